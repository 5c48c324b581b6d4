"""POST /google/{region}/v1beta/models/{model}:generateContent and :streamGenerateContent."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from mockserver.api.frames import Frame
from mockserver.api.outcome import Call, Completion
from mockserver.api.providers.family import ForcedTool, Prompt, WireFormat, generate, require_model
from mockserver.api.providers.google_bodies import prompt_texts, response_body
from mockserver.api.providers.google_frames import response_frames
from mockserver.api.providers.google_schema import response_json_schema, to_json_schema
from mockserver.errors import FieldError, ValidationFailed
from mockserver.state import MockState

__all__ = ["FORMATS", "generate_content", "stream_generate_content"]

_FORMAT = "google.generate"
_ARRAY = "google.array"  # streamGenerateContent without alt=sse: the events as one JSON array
_ALT = ("json", "sse")


def _declarations(body: dict[str, Any]) -> Iterator[tuple[tuple[str | int, ...], dict[str, Any]]]:
    for tool_index, tool in enumerate(body.get("tools", [])):
        for index, declared in enumerate(tool.get("functionDeclarations", [])):
            yield ("tools", tool_index, "functionDeclarations", index), declared


def _forced(body: dict[str, Any], config: dict[str, Any]) -> ForcedTool | None:
    """The function mode ANY demands: the first allowed one declared (400 for an undeclared).

    ``config`` is the request's ``toolConfig.functionCallingConfig``.
    """
    allowed = config.get("allowedFunctionNames") or []
    declarations = list(_declarations(body))
    names = {declared["name"] for _, declared in declarations}
    for position, name in enumerate(allowed):
        if name not in names:
            where = ("toolConfig", "functionCallingConfig", "allowedFunctionNames", position)
            message = f"Function '{name}' is not declared in tools.functionDeclarations"
            raise ValidationFailed((FieldError(where, "custom", message),))
    if config.get("mode") != "ANY":
        return None
    for path, declared in declarations:
        if allowed and declared["name"] not in allowed:
            continue
        named = tuple(allowed)
        if "parametersJsonSchema" in declared:
            schema = declared["parametersJsonSchema"]
            return ForcedTool(declared["name"], schema, (*path, "parametersJsonSchema"), named)
        schema = to_json_schema(declared.get("parameters", {"type": "OBJECT"}))
        return ForcedTool(declared["name"], schema, (*path, "parameters"), named)
    return None


def _generate(state: MockState, call: Call, stream: bool, wire: str = _FORMAT) -> Completion:
    body = call.body
    model = call.params["model"]
    require_model(state, "google", model)
    instructions, texts = prompt_texts(body)
    config = body.get("generationConfig", {})
    calling = body.get("toolConfig", {}).get("functionCallingConfig", {})
    schema = response_json_schema(config)
    field = "responseJsonSchema" if "responseJsonSchema" in config else "responseSchema"
    return generate(
        state,
        call,
        Prompt(wire, model, instructions, texts),
        stream=stream,
        max_tokens=config.get("maxOutputTokens"),
        schema=schema,
        schema_path=("generationConfig", field),
        tool=_forced(body, calling),
        allow_tools=calling.get("mode") != "NONE",
    )


def generate_content(state: MockState, call: Call) -> Completion:
    """``:generateContent``: one GenerateContentResponse."""
    return _generate(state, call, False)


def stream_generate_content(state: MockState, call: Call) -> Completion:
    """``:streamGenerateContent``: GenerateContentResponses, a JSON array or with ``alt=sse`` SSE.

    ``alt`` is Google's system parameter: ``json`` (the default) or ``sse``; any other value
    (``proto``, ``media``) is a 400, as the mock answers JSON only.
    """
    alt = call.params.get("alt", "json")
    if alt not in _ALT:
        issue = FieldError(("alt",), "enum", f"alt must be one of {', '.join(_ALT)}, not '{alt}'")
        raise ValidationFailed((issue,))
    return _generate(state, call, True, _FORMAT if alt == "sse" else _ARRAY)


def _body(call: Call, completion: Completion) -> dict[str, Any]:
    truncated = bool(completion.choices) and completion.choices[0].truncated
    return response_body(completion, call.params["model"], "MAX_TOKENS" if truncated else "STOP")


def _frames(call: Call, completion: Completion, chunk_chars: int) -> Iterator[Frame]:
    return response_frames(_body(call, completion), chunk_chars)


def _is_text(frame: Frame) -> bool:
    return isinstance(frame, dict) and "candidates" in frame


FORMATS = {
    _FORMAT: WireFormat(_body, _frames, is_text=_is_text),
    _ARRAY: WireFormat(_body, _frames, array=True),
}
"""The GenerateContentResponse body, Google's data-only SSE stream, and its JSON-array form."""
