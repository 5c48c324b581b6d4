"""Stream frames of a completion in each family's format (pure): AI SDK 5 and AI SDK 4.

A ``Frame`` is the data of one SSE event: a dict (sent as JSON) or a str (sent as is: ``[DONE]``,
an AI SDK 4 line, or whatever a fault wants to corrupt).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import orjson

from mockserver.api.bodies import answered, tool_steps
from mockserver.api.outcome import Completion

__all__ = ["DONE", "FRAMES", "Frame", "agent_frames", "assistant_frames", "text_chunks"]

Frame = dict[str, Any] | str

DONE = "[DONE]"


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


FRAMES: dict[str, Callable[[Completion, int], Iterator[Frame]]] = {
    "agent": agent_frames,
    "assistant": assistant_frames,
}
