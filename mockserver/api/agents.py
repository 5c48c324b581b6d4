"""The Agents API operations: publish and UIMessage completions, plus the shared CRUD of assistants.

An agent is the assistant record under another name: create, get, update, disable and models are
the assistants' functions (the operation's family picks ``agentId``, ``agent`` and "Agent").
Update changes the draft; publish freezes it as a version; get and completions use the newest
version, or the draft while nothing was published.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from mockserver.api import assistants
from mockserver.api.outcome import Call, Completion, Reply
from mockserver.clock import isoformat
from mockserver.errors import Conflict
from mockserver.state import MockState

__all__ = ["OPERATIONS", "message_attachments", "message_text", "publish"]

ATTACHMENT_URL = "attachment://"
# Fields a publish does not count as a change: an update that restores every value is no change.
_VOLATILE = ("updatedAt",)


def _content(details: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in details.items() if k not in _VOLATILE}


def publish(state: MockState, call: Call) -> Reply:
    """POST /agent/v1/publish: the draft becomes version n+1; 409 when nothing changed."""
    record = assistants.visible_record(state, call, call.body["agentId"], "Agent")
    unchanged = record.versions and _content(record.draft) == _content(record.active())
    if not record.dirty or unchanged:
        raise Conflict("Agent has no draft changes to publish")
    version = {
        "id": state.new_id(),
        "version": len(record.versions) + 1,
        "createdAt": isoformat(state.clock.now()),
    }
    record.versions.append(
        {
            **version,
            "description": call.body.get("description"),
            "agent": copy.deepcopy(record.draft),
        }
    )
    record.dirty = False
    return Reply(
        200,
        {"status": "success", "message": "Agent published successfully", "version": version},
    )


def message_text(message: dict[str, Any]) -> str:
    """The text parts of a UIMessage, joined by newlines."""
    return "\n".join(p["text"] for p in message["parts"] if p["type"] == "text")


def message_attachments(message: dict[str, Any]) -> list[str]:
    """Attachment ids a UIMessage refers to: ``metadata.attachments`` and ``attachment://`` files.

    The migration guide's example still uses ``{"type": "file", "url": "attachment://<id>"}``,
    so those are looked up too: an unknown id is a 404 either way.
    """
    ids = list(message.get("metadata", {}).get("attachments", ()))
    for part in message["parts"]:
        url = part.get("url") if part["type"] == "file" else None
        if isinstance(url, str) and url.startswith(ATTACHMENT_URL):
            ids.append(url.removeprefix(ATTACHMENT_URL))
    return ids


def completions(state: MockState, call: Call) -> Completion:
    """POST /agent/v1/chat/completions with ``agentId`` or an inline ``agent``."""
    messages = call.body["messages"]
    texts = tuple(message_text(m) for m in messages)
    attachment_ids = [a for m in messages for a in message_attachments(m)]
    return assistants.complete_for(state, call, texts, attachment_ids)


OPERATIONS: dict[str, Callable[[MockState, Call], Reply | Completion]] = {
    "agent.create": assistants.create,
    "agent.get": assistants.get,
    "agent.update": assistants.update,
    "agent.publish": publish,
    "agent.disable": assistants.disable,
    "agent.models": assistants.models,
    "agent.completions": completions,
}
