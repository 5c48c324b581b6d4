"""What an operation returns to the HTTP layer: a JSON reply or a completion to render."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, BinaryIO, NamedTuple

from mockserver.auth import Principal
from mockserver.schemas import Operation

__all__ = ["Call", "Choice", "Completion", "Reply", "Upload"]


class Upload(NamedTuple):
    """A file part of a streamed multipart form: its name, type, size and contents (spooled)."""

    name: str
    content_type: str
    size: int
    file: BinaryIO


_NONE: Mapping[str, Any] = MappingProxyType({})


class Call(NamedTuple):
    """One validated request: who, which operation, the body (or query) as JSON, and for the
    routes that have them, the path parameters (region, model, folderId) and the streamed
    uploads by field name.

    Built with keywords, as every per-request record.
    """

    operation: Operation
    principal: Principal
    body: dict[str, Any]
    params: Mapping[str, str] = _NONE  # path parameters: region, model, folderId
    uploads: Mapping[str, Upload] = _NONE
    base_url: str = ""  # scheme://host of the request, for the operations that hand out URLs


@dataclass(frozen=True, slots=True)
class Reply:
    """A JSON answer."""

    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


class Choice(NamedTuple):
    """One alternative of a provider reply (OpenAI's ``n``), and whether a token limit cut it."""

    text: str
    truncated: bool = False


class Completion(NamedTuple):
    """A generated answer, rendered as JSON or as a stream by the family's renderer.

    ``steps`` are scripted tool steps: ``{"toolCallId", "toolName", "args", "result"}``; the
    token counts are what the rate limiter charged (streams report them as usage). A named
    tuple built with keywords, as the other per-request records: a frozen dataclass costs three
    times as much to build.
    """

    family: str
    message_id: str
    text: str
    steps: tuple[dict[str, Any], ...] = ()
    output: Any = None
    has_output: bool = False
    stream: bool = False
    headers: Mapping[str, str] = MappingProxyType({})
    step_ids: tuple[str, ...] = ()
    prompt_tokens: int = 0
    completion_tokens: int = 0
    # The provider families' (mockserver.api.providers): every choice, and the mock clock's
    # Unix time of the reply; ``text`` is the first choice's.
    choices: tuple[Choice, ...] = ()
    created: int = 0
    model: str | None = None  # what the limiter charged it to (journaled for the inspector)
