"""What the fault tests send: the key, the routes they aim rules at, an assistant to target."""

from __future__ import annotations

from typing import Any

AUTH = {"Authorization": "Bearer sk-ld-mock"}
MODELS = "/assistant/v1/models"
CREATE = "/assistant/v1/create"
COMPLETIONS = "/assistant/v1/chat/completions"
ASSISTANT = {"name": "Fault target", "instruction": "Answer briefly."}


def chat(assistant_id: str) -> dict[str, Any]:
    """A one-message completion request for a stored assistant."""
    return {"assistantId": assistant_id, "messages": [{"role": "user", "content": "Hello"}]}
