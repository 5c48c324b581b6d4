"""Completion renderers: JSON, or with ``stream: true`` each family's event stream over SSE.

A stream is built in stages, so a fault can wrap it without knowing either format::

    frames (sync, pure) -> paced (stream_delay_ms) -> filters (faults) -> encode -> SSE

A ``Frame`` is the data of one SSE event: a dict (sent as JSON) or a str (sent as is: ``[DONE]``,
an AI SDK 4 line, or whatever a fault wants to corrupt). Each event leaves the app as one ASGI
``http.response.body`` message, so an ASGI-level fault can count events as well.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from typing import Any

import anyio
import orjson
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.responses import Response

from .handlers import Renderer, json_response
from .outcome import Call, Completion
from .state import MockState
from .wire import agent_completion, answered, assistant_completion, tool_steps

__all__ = [
    "DONE",
    "Frame",
    "FrameFilter",
    "agent_frames",
    "assistant_frames",
    "encode",
    "renderers",
    "text_chunks",
]

Frame = dict[str, Any] | str
FrameFilter = Callable[[MockState, Call, AsyncIterator[Frame]], AsyncIterator[Frame]]

DONE = "[DONE]"
_SEP = "\n"  # what the AI SDK writes; sse-starlette's default is \r\n
_HEADERS = {
    # Vercel AI SDK 5's UI message stream marker; its useChat transport checks for it.
    "agent": {"x-vercel-ai-ui-message-stream": "v1"},
    # AI SDK 4's data stream marker (the Assistants stream format is inferred, not documented).
    "assistant": {"x-vercel-ai-data-stream": "v1"},
}


def text_chunks(text: str, size: int) -> list[str]:
    """``text`` cut into pieces of ``size`` characters (concatenated, they are ``text`` again)."""
    return [text[i : i + size] for i in range(0, len(text), max(size, 1))]


def agent_frames(completion: Completion, chunk_chars: int) -> Iterator[Frame]:
    """An AI SDK 5 UI message stream: a step per scripted tool call, a step for the text.

    Structured output rides on the finish chunk as ``messageMetadata.output`` (AI SDK 5 chunks are
    strict objects: ``finish`` carries nothing else), which useChat exposes as
    ``message.metadata.output``.
    """
    yield {"type": "start", "messageId": completion.message_id}
    for step in tool_steps(completion):
        call_id, name = step["toolCallId"], step["toolName"]
        yield {"type": "start-step"}
        yield {"type": "tool-input-start", "toolCallId": call_id, "toolName": name}
        yield {
            "type": "tool-input-available",
            "toolCallId": call_id,
            "toolName": name,
            "input": step["args"],
        }
        yield {"type": "tool-output-available", "toolCallId": call_id, "output": step["result"]}
        yield {"type": "finish-step"}
    if answered(completion):
        text_id = "text-0"  # one text part per reply; ids need only be unique in the message
        yield {"type": "start-step"}
        yield {"type": "text-start", "id": text_id}
        for piece in text_chunks(completion.text, chunk_chars):
            yield {"type": "text-delta", "id": text_id, "delta": piece}
        yield {"type": "text-end", "id": text_id}
        yield {"type": "finish-step"}
    finish: dict[str, Any] = {"type": "finish"}
    if completion.has_output:
        finish["messageMetadata"] = {"output": completion.output}
    yield finish
    yield DONE


def _line(code: str, value: Any) -> str:
    return f"{code}:{orjson.dumps(value).decode()}"


def assistant_frames(completion: Completion, chunk_chars: int) -> Iterator[Frame]:
    """AI SDK 4 data-stream lines (INFERRED: Langdock documents no Assistants stream format).

    ``f:`` starts a step, ``9:``/``a:`` are a tool call and its result, ``0:`` a text chunk,
    ``2:[{"output": ...}]`` the structured output, ``e:`` ends a step and ``d:`` the message.
    Message ids match the JSON reply's ``result[].id``.
    """
    idle = {"promptTokens": 0, "completionTokens": 0}
    usage = {
        "promptTokens": completion.prompt_tokens,
        "completionTokens": completion.completion_tokens,
    }
    for step, step_id in zip(tool_steps(completion), completion.step_ids, strict=True):
        yield _line("f", {"messageId": f"{step_id}-call"})
        yield _line(
            "9",
            {"toolCallId": step["toolCallId"], "toolName": step["toolName"], "args": step["args"]},
        )
        yield _line("a", {"toolCallId": step["toolCallId"], "result": step["result"]})
        yield _line("e", {"finishReason": "tool-calls", "usage": idle, "isContinued": False})
    reason = "stop" if answered(completion) else "tool-calls"
    if answered(completion):
        yield _line("f", {"messageId": completion.message_id})
        for piece in text_chunks(completion.text, chunk_chars):
            yield _line("0", piece)
    if completion.has_output:
        yield _line("2", [{"output": completion.output}])
    if answered(completion):
        yield _line("e", {"finishReason": reason, "usage": usage, "isContinued": False})
    yield _line("d", {"finishReason": reason, "usage": usage})


_FRAMES: dict[str, Callable[[Completion, int], Iterator[Frame]]] = {
    "agent": agent_frames,
    "assistant": assistant_frames,
}
_JSON: dict[str, Callable[[Completion], dict[str, Any]]] = {
    "agent": agent_completion,
    "assistant": assistant_completion,
}


def _is_text(frame: Frame) -> bool:
    if isinstance(frame, dict):
        return frame.get("type") == "text-delta"
    return frame.startswith("0:")


async def _paced(frames: Iterable[Frame], delay: float) -> AsyncIterator[Frame]:
    # The delay comes before each text chunk: time to first token is one delay.
    for frame in frames:
        if delay and _is_text(frame):
            await anyio.sleep(delay)
        yield frame


def encode(frame: Frame) -> ServerSentEvent:
    """One SSE event ``data: <frame>`` (JSON for a dict, as is for a str)."""
    data = frame if isinstance(frame, str) else orjson.dumps(frame).decode()
    return ServerSentEvent(data=data, sep=_SEP)


async def _encoded(frames: AsyncIterator[Frame]) -> AsyncIterator[ServerSentEvent]:
    async for frame in frames:
        yield encode(frame)


def _stream(
    state: MockState, call: Call, completion: Completion, filters: Sequence[FrameFilter]
) -> Response:
    family = completion.family
    settings = state.settings
    frames = _paced(
        _FRAMES[family](completion, settings.stream_chunk_chars), settings.stream_delay_ms / 1000
    )
    for wrap in filters:
        frames = wrap(state, call, frames)
    return EventSourceResponse(
        _encoded(frames),
        headers={**completion.headers, **_HEADERS[family]},
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
        return json_response(200, _JSON[completion.family](completion), completion.headers)

    return dict.fromkeys(_FRAMES, render)
