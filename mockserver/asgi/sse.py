"""Completion renderers: JSON, or with ``stream: true`` the family's frames as Server-Sent Events.

The Assistants and Agents formats are here; the provider families' (OpenAI, Anthropic, Google)
are ``WireFormat``s registered in ``mockserver.api.providers.registry``, rendered the same way.

A stream is built in stages, so a fault can wrap it without knowing either format::

    frames (sync, pure) -> paced (stream_delay_ms) -> filters (faults) -> encode -> SSE

A ``Frame`` is the data of one SSE event: a dict (sent as JSON) or a str (sent as is: ``[DONE]``,
an AI SDK 4 line, or whatever a fault wants to corrupt). Each event leaves the app as one ASGI
``http.response.body`` message, so an ASGI-level fault can count events as well.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from typing import Any

import anyio
import orjson
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.responses import Response

from mockserver.api.bodies import agent_completion, assistant_completion
from mockserver.api.frames import FRAMES, Frame
from mockserver.api.outcome import Call, Completion
from mockserver.api.providers.registry import FAMILIES, FORMATS
from mockserver.asgi.endpoint import Renderer
from mockserver.asgi.responses import JsonResponse, json_response
from mockserver.state import MockState

__all__ = ["FrameFilter", "encode", "renderers"]

FrameFilter = Callable[[MockState, Call, AsyncIterator[Frame]], AsyncIterator[Frame]]

_SEP = "\n"  # what the AI SDK writes; sse-starlette's default is \r\n
_HEADERS = {
    # Vercel AI SDK 5's UI message stream marker; its useChat transport checks for it.
    "agent": {"x-vercel-ai-ui-message-stream": "v1"},
    # AI SDK 4's data stream marker (the Assistants stream format is inferred, not documented).
    "assistant": {"x-vercel-ai-data-stream": "v1"},
}


_JSON: dict[str, Callable[[Completion], dict[str, Any]]] = {
    "agent": agent_completion,
    "assistant": assistant_completion,
}


def _is_text(frame: Frame) -> bool:
    if isinstance(frame, dict):
        return frame.get("type") == "text-delta"
    return frame.startswith("0:")


async def _paced(
    frames: Iterable[Frame], delay: float, is_text: Callable[[Frame], bool] = _is_text
) -> AsyncIterator[Frame]:
    # The delay comes before each text chunk: time to first token is one delay.
    for frame in frames:
        if delay and is_text(frame):
            await anyio.sleep(delay)
        yield frame


def encode(frame: Frame, *, named: bool = False) -> ServerSentEvent:
    """One SSE event ``data: <frame>`` (JSON for a dict, as is for a str).

    ``named``: a dict frame's ``type`` is also the event's name (``event: message_start``).
    """
    if isinstance(frame, str):
        return ServerSentEvent(data=frame, sep=_SEP)
    event = frame.get("type") if named else None
    return ServerSentEvent(data=orjson.dumps(frame).decode(), event=event, sep=_SEP)


async def _encoded(frames: AsyncIterator[Frame], named: bool) -> AsyncIterator[ServerSentEvent]:
    async for frame in frames:
        yield encode(frame, named=named)


def _stream(
    state: MockState, call: Call, completion: Completion, filters: Sequence[FrameFilter]
) -> Response:
    family = completion.family
    settings = state.settings
    chunk, delay = settings.stream_chunk_chars, settings.stream_delay_ms / 1000
    provider = FORMATS.get(family)
    headers: Mapping[str, str]
    if provider is not None and provider.array:
        frames_of = provider.frames(call, completion, chunk)
        return json_response(200, list(frames_of), {**completion.headers, **provider.headers})
    if provider is None:
        frames = _paced(FRAMES[family](completion, chunk), delay)
        headers, named = _HEADERS[family], False
    else:
        frames = _paced(provider.frames(call, completion, chunk), delay, provider.is_text)
        headers, named = provider.headers, provider.named_events
    for wrap in filters:
        frames = wrap(state, call, frames)
    return EventSourceResponse(
        _encoded(frames, named),
        headers={**completion.headers, **headers},
        ping=0,  # no keep-alive comments: a stall fault must look like a stall
        sep=_SEP,
        # SIGTERM finishes in-flight streams (sse-starlette cuts them at once by default); less
        # than the 10 s uvicorn grants in-flight requests in `serve`.
        shutdown_grace_period=5,
    )


def renderers(filters: Sequence[FrameFilter] = ()) -> dict[str, Renderer]:
    """The completion renderer of each family: JSON, or the family's stream when asked to.

    ``filters`` wrap every stream's frames, in order (the hook for stream faults).
    """

    def render(state: MockState, call: Call, completion: Completion) -> Response:
        if completion.stream:
            return _stream(state, call, completion, filters)
        provider = FORMATS.get(completion.family)
        if provider is not None:
            if provider.encoded is not None:
                content = provider.encoded(call, completion)
                if content is not None:
                    return JsonResponse(200, content, completion.headers)
            return json_response(200, provider.body(call, completion), completion.headers)
        return json_response(200, _JSON[completion.family](completion), completion.headers)

    return dict.fromkeys([*FRAMES, *FAMILIES], render)
