"""The provider families' operations and reply formats, for the app and the SSE renderer."""

from __future__ import annotations

from collections.abc import Callable

from mockserver.api.outcome import Call, Completion, Reply
from mockserver.api.providers import (
    anthropic_messages,
    anthropic_models,
    google_generate,
    google_models,
    openai_chat,
    openai_embeddings,
    openai_models,
    openai_responses,
)
from mockserver.api.providers.family import WireFormat
from mockserver.state import MockState

__all__ = ["FAMILIES", "FORMATS", "OPERATIONS"]

FAMILIES = ("openai", "anthropic", "google")
"""The operation families whose completions the provider formats render."""

FORMATS: dict[str, WireFormat] = {
    **openai_chat.FORMATS,
    **openai_responses.FORMATS,
    **anthropic_messages.FORMATS,
    **google_generate.FORMATS,
}
"""Reply formats by the name a ``Prompt`` gives (``Completion.family``)."""

OPERATIONS: dict[str, Callable[[MockState, Call], Reply | Completion]] = {
    "openai.models": openai_models.models,
    "openai.chat": openai_chat.chat,
    "openai.responses": openai_responses.responses,
    "openai.embeddings": openai_embeddings.embeddings,
    "anthropic.models": anthropic_models.models,
    "anthropic.messages": anthropic_messages.messages,
    "google.models": google_models.models,
    "google.generate": google_generate.generate_content,
    "google.stream": google_generate.stream_generate_content,
}
"""Handlers by operation id."""
