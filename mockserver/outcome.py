"""What an operation returns to the HTTP layer: a JSON reply or a completion to render."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .auth import Principal
from .schemas import Operation

__all__ = ["Call", "Completion", "Reply"]


@dataclass(frozen=True, slots=True)
class Call:
    """One validated request: who, which operation, and the body (or query) as JSON."""

    operation: Operation
    principal: Principal
    body: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Reply:
    """A JSON answer."""

    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Completion:
    """A generated answer, rendered as JSON or as a stream by the family's renderer.

    ``steps`` are scripted tool steps: ``{"toolCallId", "toolName", "args", "result"}``; the
    token counts are what the rate limiter charged (streams report them as usage).
    """

    family: str
    message_id: str
    text: str
    steps: tuple[dict[str, Any], ...] = ()
    output: Any = None
    has_output: bool = False
    stream: bool = False
    headers: dict[str, str] = field(default_factory=dict)
    step_ids: tuple[str, ...] = ()
    prompt_tokens: int = 0
    completion_tokens: int = 0
