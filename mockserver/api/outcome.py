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
    """A file part of a streamed multipart form: its name, type, size and contents (spooled).

    ``read`` is what the operation reads of the file (a knowledge file's text), read before
    the state lock is taken: the slow part of an upload, never under the lock.
    """

    name: str
    content_type: str
    size: int
    file: BinaryIO
    read: object = None


_NONE: Mapping[str, Any] = MappingProxyType({})

_new = tuple.__new__


class Call(NamedTuple):
    """One validated request: who, which operation, the body (or query) as JSON, and for the
    routes that have them, the path parameters (region, model, folderId) and the streamed
    uploads by field name.
    """

    operation: Operation
    principal: Principal
    body: dict[str, Any]
    params: Mapping[str, str] = _NONE  # path parameters: region, model, folderId
    uploads: Mapping[str, Upload] = _NONE
    base_url: str = ""  # scheme://host of the request, for the operations that hand out URLs

    @classmethod
    def make(
        cls,
        *,
        operation: Operation,
        principal: Principal,
        body: dict[str, Any],
        params: Mapping[str, str] = _NONE,
        uploads: Mapping[str, Upload] = _NONE,
        base_url: str = "",
    ) -> Call:
        """A call built by keyword, at the cost of a positional one (see ``Completion.make``)."""
        return _new(cls, (operation, principal, body, params, uploads, base_url))


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

    ``message_id`` is a UUID, or for the provider families its 32 hex digits (their ids' stuff);
    ``steps`` are scripted tool steps: ``{"toolCallId", "toolName", "args", "result"}``; the
    token counts are what the rate limiter charged (streams report them as usage). A named
    tuple, as the other per-request records: a frozen dataclass costs 3.5 times as much to build.
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
    target_id: str | None = None  # the stored assistant or agent (the usage export's)

    @classmethod
    def make(
        cls,
        *,
        family: str,
        message_id: str,
        text: str,
        steps: tuple[dict[str, Any], ...] = (),
        output: Any = None,
        has_output: bool = False,
        stream: bool = False,
        headers: Mapping[str, str] = MappingProxyType({}),
        step_ids: tuple[str, ...] = (),
        prompt_tokens: int = 0,
        completion_tokens: int = 0,
        choices: tuple[Choice, ...] = (),
        created: int = 0,
        model: str | None = None,
        target_id: str | None = None,
    ) -> Completion:
        """A completion built by keyword, so a swapped neighbour shows.

        ``Completion(field=...)`` would do as much, but a class called with keywords packs them
        into a dict first: three times the cost of this function's keywords, every completion.
        """
        return _new(
            cls,
            (
                family,
                message_id,
                text,
                steps,
                output,
                has_output,
                stream,
                headers,
                step_ids,
                prompt_tokens,
                completion_tokens,
                choices,
                created,
                model,
                target_id,
            ),
        )
