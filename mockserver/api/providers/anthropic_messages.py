"""POST /anthropic/{region}/v1/messages: Anthropic's Messages API on the shared reply pipeline."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from mockserver.api.frames import Frame
from mockserver.api.outcome import Call, Completion
from mockserver.api.providers.anthropic_bodies import message_body, prompt_texts
from mockserver.api.providers.anthropic_frames import message_frames
from mockserver.api.providers.family import ForcedTool, Prompt, WireFormat, generate, require_model
from mockserver.errors import FieldError, ValidationFailed
from mockserver.state import MockState

__all__ = ["FORMATS", "messages"]

_FORMAT = "anthropic.messages"


def _refused(path: tuple[str | int, ...], message: str) -> ValidationFailed:
    return ValidationFailed((FieldError(path, "custom", message),))


def _forced(body: dict[str, Any]) -> ForcedTool | None:
    """The tool ``tool_choice`` any or tool demands (Anthropic's 400s when it cannot be had)."""
    choice = body.get("tool_choice")
    if choice is None or choice["type"] in ("auto", "none"):
        return None
    tools = body.get("tools", [])
    if not tools:
        raise _refused(("tool_choice",), "tool_choice may only be specified while providing tools")
    if choice["type"] == "tool":
        found = next((i for i, tool in enumerate(tools) if tool["name"] == choice["name"]), None)
        if found is None:
            raise _refused(("tool_choice", "name"), f"Tool '{choice['name']}' not found in tools")
    else:  # any: the first client tool (a server tool has no input_schema to sample from)
        found = next((i for i, tool in enumerate(tools) if "input_schema" in tool), None)
        if found is None:
            return None
    tool = tools[found]
    schema = tool.get("input_schema", {"type": "object"})
    named = (tool["name"],) if choice["type"] == "tool" else ()
    return ForcedTool(tool["name"], schema, ("tools", found, "input_schema"), named)


def messages(state: MockState, call: Call) -> Completion:
    """A reply as a Message (JSON text under ``output_config.format``), or its event stream."""
    body = call.body
    model = body["model"]
    require_model(state, "anthropic", model)
    instructions, texts = prompt_texts(body)
    output = (body.get("output_config") or {}).get("format")
    return generate(
        state,
        call,
        Prompt(_FORMAT, model, instructions, texts),
        stream=bool(body.get("stream", False)),
        max_tokens=body["max_tokens"],
        schema=output["schema"] if output else None,
        schema_path=("output_config", "format", "schema"),
        tool=_forced(body),
        allow_tools=(body.get("tool_choice") or {}).get("type") != "none",
    )


def _stop_reason(completion: Completion) -> str:
    if completion.steps:
        return "tool_use"
    if completion.choices and completion.choices[0].truncated:
        return "max_tokens"
    return "end_turn"


def _body(call: Call, completion: Completion) -> dict[str, Any]:
    return message_body(completion, call.body["model"], _stop_reason(completion))


def _frames(call: Call, completion: Completion, chunk_chars: int) -> Iterator[Frame]:
    return message_frames(_body(call, completion), chunk_chars)


def _is_text(frame: Frame) -> bool:
    return isinstance(frame, dict) and frame.get("type") == "content_block_delta"


FORMATS = {_FORMAT: WireFormat(_body, _frames, named_events=True, is_text=_is_text)}
"""The Message body and Anthropic's named-event stream."""
