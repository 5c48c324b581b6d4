"""POST /openai/{region}/v1/responses: OpenAI's Responses API, JSON or its typed event stream."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson

from mockserver.api.bodies import tool_steps
from mockserver.api.frames import Frame, text_chunks
from mockserver.api.outcome import Call, Completion
from mockserver.api.providers.family import (
    ForcedTool,
    Prompt,
    WireFormat,
    generate,
    require_model,
)
from mockserver.api.providers.openai_chat import JSON_OBJECT
from mockserver.errors import FieldError, ValidationFailed
from mockserver.state import MockState

__all__ = ["FORMATS", "prompt_texts", "response_body", "response_frames", "responses"]

_INSTRUCTION_ROLES = ("system", "developer")


def _content_texts(content: Any) -> list[str]:
    if isinstance(content, str):
        return [content]
    return [part.get("text", "") for part in content or () if isinstance(part, dict)]


def prompt_texts(body: dict[str, Any]) -> tuple[str, tuple[str, ...]]:
    """``(instructions with system and developer messages, every other input's text)``."""
    given = body["input"]
    instructions = [body["instructions"]] if body.get("instructions") else []
    if isinstance(given, str):
        return "\n".join(instructions), (given,)
    texts: list[str] = []
    for item in given:
        kind = item.get("type", "message")
        if kind == "message":
            found = _content_texts(item.get("content"))
            (instructions if item.get("role") in _INSTRUCTION_ROLES else texts).extend(found)
        elif kind == "function_call":
            texts.append(item.get("arguments", ""))
        elif kind == "function_call_output":
            output = item.get("output", "")
            texts.append(output if isinstance(output, str) else orjson.dumps(output).decode())
    return "\n".join(instructions), tuple(texts)


def _forced_tool(body: dict[str, Any]) -> ForcedTool | None:
    choice = body.get("tool_choice")
    functions = [
        (index, tool)
        for index, tool in enumerate(body.get("tools") or ())
        if tool["type"] == "function"
    ]
    if choice == "required":
        found = functions[0] if functions else None
    elif isinstance(choice, dict) and choice.get("type") == "function":
        found = next((pair for pair in functions if pair[1]["name"] == choice["name"]), None)
    else:
        return None
    if found is None:
        issue = FieldError(("tool_choice",), "custom", "tool_choice names no function of tools")
        raise ValidationFailed((issue,))
    index, tool = found
    parameters = tool.get("parameters") or {"type": "object", "properties": {}}
    named = (tool["name"],) if isinstance(choice, dict) else ()
    return ForcedTool(tool["name"], parameters, ("tools", index, "parameters"), named)


def responses(state: MockState, call: Call) -> Completion:
    """A response to the input: text (JSON by ``text.format``) or function calls."""
    body = call.body
    model = body["model"]
    require_model(state, "openai", model)
    instructions, texts = prompt_texts(body)
    text_format = (body.get("text") or {}).get("format") or {}
    schema: dict[str, Any] | None = None
    if text_format.get("type") == "json_schema":
        schema = text_format["schema"]
    elif text_format.get("type") == "json_object":
        schema = JSON_OBJECT
    return generate(
        state,
        call,
        Prompt("openai.responses", model, instructions, texts),
        stream=bool(body.get("stream")),
        max_tokens=body.get("max_output_tokens"),
        schema=schema,
        schema_path=("text", "format", "schema"),
        tool=_forced_tool(body),
        allow_tools=body.get("tool_choice") != "none",
    )


def _items(completion: Completion) -> list[dict[str, Any]]:
    """The output items: a message with the text (unless only tools were called), then calls."""
    items: list[dict[str, Any]] = []
    if completion.text or not completion.steps:
        items.append(
            {
                "id": "msg_" + completion.message_id,
                "type": "message",
                "status": "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "text": completion.text, "annotations": []}],
            }
        )
    for step, step_id in zip(tool_steps(completion), completion.step_ids, strict=True):
        items.append(
            {
                "id": "fc_" + step_id.replace("-", ""),
                "type": "function_call",
                "status": "completed",
                "call_id": step["toolCallId"],
                "name": step["toolName"],
                "arguments": orjson.dumps(step["args"]).decode(),
            }
        )
    return items


def response_body(call: Call, completion: Completion) -> dict[str, Any]:
    """The ``response`` object, ``incomplete`` when ``max_output_tokens`` cut the text."""
    body = call.body
    truncated = bool(completion.choices and completion.choices[0].truncated)
    prompt, produced = completion.prompt_tokens, completion.completion_tokens
    text_format = (body.get("text") or {}).get("format") or {"type": "text"}
    return {
        "id": "resp_" + completion.message_id,
        "object": "response",
        "created_at": completion.created,
        "status": "incomplete" if truncated else "completed",
        "error": None,
        "incomplete_details": {"reason": "max_output_tokens"} if truncated else None,
        "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"),
        "model": body["model"],
        "output": _items(completion),
        "parallel_tool_calls": body.get("parallel_tool_calls", True),
        "previous_response_id": body.get("previous_response_id"),
        "reasoning": {"effort": None, "summary": None},
        "store": body.get("store", True),
        "temperature": body.get("temperature", 1.0),
        "text": {"format": text_format},
        "tool_choice": body.get("tool_choice", "auto"),
        "tools": body.get("tools", []),
        "top_p": body.get("top_p", 1.0),
        "truncation": "disabled",
        "usage": {
            "input_tokens": prompt,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": produced,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": prompt + produced,
        },
        "user": None,
        "metadata": body.get("metadata") or {},
    }


def _item_frames(index: int, item: dict[str, Any], chunk_chars: int) -> Iterator[dict[str, Any]]:
    item_id = item["id"]
    at = {"item_id": item_id, "output_index": index}
    if item["type"] == "function_call":
        yield {
            "type": "response.output_item.added",
            "output_index": index,
            "item": {**item, "arguments": "", "status": "in_progress"},
        }
        for piece in text_chunks(item["arguments"], chunk_chars):
            yield {"type": "response.function_call_arguments.delta", **at, "delta": piece}
        yield {
            "type": "response.function_call_arguments.done",
            **at,
            "arguments": item["arguments"],
            "name": item["name"],
        }
    else:
        part = item["content"][0]
        opening = {**item, "status": "in_progress", "content": []}
        yield {"type": "response.output_item.added", "output_index": index, "item": opening}
        empty = {**part, "text": ""}
        yield {"type": "response.content_part.added", **at, "content_index": 0, "part": empty}
        for piece in text_chunks(part["text"], chunk_chars):
            yield {
                "type": "response.output_text.delta",
                **at,
                "content_index": 0,
                "delta": piece,
                "logprobs": [],
            }
        yield {
            "type": "response.output_text.done",
            **at,
            "content_index": 0,
            "text": part["text"],
            "logprobs": [],
        }
        yield {"type": "response.content_part.done", **at, "content_index": 0, "part": part}
    yield {"type": "response.output_item.done", "output_index": index, "item": item}


def response_frames(call: Call, completion: Completion, chunk_chars: int) -> Iterator[Frame]:
    """``response.created`` … ``response.output_text.delta`` … ``response.completed``.

    Every event has its ``sequence_number``; the event name is its ``type``. A cut reply ends
    with ``response.incomplete`` instead of ``response.completed``, as OpenAI's does.
    """
    final = response_body(call, completion)
    opening = {
        **final,
        "status": "in_progress",
        "output": [],
        "usage": None,
        "incomplete_details": None,
    }
    events: list[dict[str, Any]] = [
        {"type": "response.created", "response": opening},
        {"type": "response.in_progress", "response": opening},
    ]
    for sequence, event in enumerate(events):
        yield {**event, "sequence_number": sequence}
    sequence = len(events)
    for index, item in enumerate(final["output"]):
        for event in _item_frames(index, item, chunk_chars):
            yield {**event, "sequence_number": sequence}
            sequence += 1
    ending = "response.incomplete" if final["status"] == "incomplete" else "response.completed"
    yield {"type": ending, "response": final, "sequence_number": sequence}


def _is_text(frame: Frame) -> bool:
    return isinstance(frame, dict) and frame.get("type") == "response.output_text.delta"


FORMATS = {
    "openai.responses": WireFormat(
        response_body, response_frames, named_events=True, is_text=_is_text
    )
}
"""The Responses API's reply format: named SSE events, no ``[DONE]``."""
