"""POST /openai/{region}/v1/chat/completions: OpenAI's Chat Completions, JSON or chunk stream."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson

from mockserver.api.bodies import tool_steps
from mockserver.api.frames import DONE, Frame, text_chunks
from mockserver.api.outcome import Call, Choice, Completion
from mockserver.api.providers.family import (
    ForcedTool,
    Prompt,
    WireFormat,
    generate,
    require_model,
)
from mockserver.api.template import JsonTemplate
from mockserver.errors import FieldError, ValidationFailed
from mockserver.state import MockState

__all__ = [
    "FORMATS",
    "JSON_OBJECT",
    "chat",
    "chat_body",
    "chat_encoded",
    "chat_frames",
    "openai_usage",
    "prompt_texts",
]

JSON_OBJECT = {
    "type": "object",
    "properties": {"answer": {"type": "string", "minLength": 1}},
    "required": ["answer"],
    "additionalProperties": False,
}
"""What JSON mode answers when the request gives no schema: an object, as OpenAI promises."""
_FINGERPRINT = "fp_langdock_mock"
_FORMAT = "openai.chat"
_INSTRUCTION_ROLES = ("system", "developer")


def _content_texts(content: Any) -> list[str]:
    if isinstance(content, list):
        return [part.get("text") or part.get("refusal") or "" for part in content]
    return []


def prompt_texts(messages: list[dict[str, Any]]) -> tuple[str, tuple[str, ...]]:
    """``(system and developer text, every other message's text)``, tool calls' arguments too."""
    instructions: list[str] = []
    texts: list[str] = []
    for message in messages:
        # A plain string appended as is, its type checked without a call: the common message
        # costs no call and no list of its own (every chat completion runs this).
        content = message.get("content")
        if message["role"] in _INSTRUCTION_ROLES:
            if content.__class__ is str:
                instructions.append(content)
            else:
                instructions += _content_texts(content)
            continue
        if content.__class__ is str:
            texts.append(content)
        else:
            texts += _content_texts(content)
        if "tool_calls" in message:
            texts += [call["function"]["arguments"] for call in message["tool_calls"]]
    return "\n".join(instructions), tuple(texts)


def _forced_tool(body: dict[str, Any]) -> ForcedTool | None:
    # tool_choice "required" or a named function: one call, unless a scripted reply says more.
    choice = body.get("tool_choice")
    tools = body.get("tools") or []
    if choice == "required":
        index = 0 if tools else None
    elif isinstance(choice, dict):
        name = choice["function"]["name"]
        index = next((i for i, t in enumerate(tools) if t["function"]["name"] == name), None)
        if index is None:
            issue = FieldError(
                ("tool_choice", "function", "name"),
                "custom",
                f"Tool choice '{name}' is not one of the request's tools",
            )
            raise ValidationFailed((issue,))
    else:
        return None
    if index is None:
        issue = FieldError(("tool_choice",), "custom", "tool_choice 'required' needs tools")
        raise ValidationFailed((issue,))
    function = tools[index]["function"]
    parameters = function.get("parameters") or {"type": "object", "properties": {}}
    named = (function["name"],) if isinstance(choice, dict) else ()
    path = ("tools", index, "function", "parameters")
    return ForcedTool(function["name"], parameters, path, named)


def chat(state: MockState, call: Call) -> Completion:
    """A reply to the messages: n choices, cut at max_(completion_)tokens, JSON by schema."""
    body = call.body
    model = body["model"]
    require_model(state, "openai", model)
    instructions, texts = prompt_texts(body["messages"])
    prompt = _new(Prompt, (_FORMAT, model, instructions, texts))  # Prompt(...) without its __new__
    if body.keys().isdisjoint(_ASKS):
        # Asks for nothing the reply depends on (no stream, n, limit, format or tool choice):
        # generate's defaults, without the lookups that would find none (1k instructions).
        return generate(state, call, prompt)
    get = body.get
    schema: dict[str, Any] | None = None
    response_format = get("response_format")
    if response_format:
        kind = response_format.get("type")
        if kind == "json_schema":
            schema = response_format["json_schema"].get("schema") or JSON_OBJECT
        elif kind == "json_object":
            schema = JSON_OBJECT
    choice = get("tool_choice")
    return generate(
        state,
        call,
        prompt,
        stream=bool(get("stream")),
        choices=get("n") or 1,
        max_tokens=get("max_completion_tokens") or get("max_tokens"),
        schema=schema,
        schema_path=_SCHEMA_PATH,
        # Without tool_choice nothing is forced (most requests): no lookup of the tools.
        tool=None if choice is None else _forced_tool(body),
        allow_tools=choice != "none",
    )


_SCHEMA_PATH = ("response_format", "json_schema", "schema")
# The fields whose values change a reply's shape or text (the others the mock accepts and ignores).
_ASKS = frozenset(
    ("stream", "n", "max_completion_tokens", "max_tokens", "response_format", "tool_choice")
)
_new = tuple.__new__


def openai_usage(completion: Completion) -> dict[str, Any]:
    """``usage``: exactly the tokens the limiter charged."""
    prompt, produced = completion.prompt_tokens, completion.completion_tokens
    return {
        "prompt_tokens": prompt,
        "completion_tokens": produced,
        "total_tokens": prompt + produced,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def _tool_calls(completion: Completion) -> list[dict[str, Any]]:
    return [
        {
            "id": step["toolCallId"],
            "type": "function",
            "function": {
                "name": step["toolName"],
                "arguments": orjson.dumps(step["args"]).decode(),
            },
        }
        for step in tool_steps(completion)
    ]


def _finish(completion: Completion, truncated: bool) -> str:
    if completion.steps:
        return "tool_calls"
    return "length" if truncated else "stop"


def _head(call: Call, completion: Completion, kind: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-" + completion.message_id,
        "object": kind,
        "created": completion.created,
        "model": call.body["model"],
        "system_fingerprint": _FINGERPRINT,
    }


def chat_body(call: Call, completion: Completion) -> dict[str, Any]:
    """The ``chat.completion`` object: a choice per alternative, tool calls, usage."""
    return _chat_body(call.body["model"], completion)


def _chat_body(model: str, completion: Completion) -> dict[str, Any]:
    calls = _tool_calls(completion) if completion.steps else None
    choices = []
    for index, choice in enumerate(completion.choices):
        message: dict[str, Any] = {
            "role": "assistant",
            "content": choice.text if choice.text or not calls else None,
            "refusal": None,
            "annotations": [],
        }
        if calls:
            message["tool_calls"] = calls
        choices.append(
            {
                "index": index,
                "message": message,
                "logprobs": None,
                "finish_reason": _finish(completion, choice.truncated),
            }
        )
    return {
        "id": "chatcmpl-" + completion.message_id,
        "object": "chat.completion",
        "created": completion.created,
        "model": model,
        "system_fingerprint": _FINGERPRINT,
        "choices": choices,
        "usage": openai_usage(completion),
        "service_tier": "default",
    }


def _chat_template() -> JsonTemplate:
    # chat_body's own output for one text choice, its variable values turned into placeholders:
    # the shape has one source, and a test holds the template to chat_body byte for byte.
    sample = _chat_body("{model}", Completion.make(family=_FORMAT, message_id="", text=""))
    sample.update(id="chatcmpl-{id}", created="{created}", choices=[])
    choice = _chat_body(
        "", Completion.make(family=_FORMAT, message_id="", text="", choices=(Choice("{content}"),))
    )
    sample["choices"] = choice["choices"]
    sample["choices"][0]["finish_reason"] = "{finish}"
    sample["usage"].update(
        prompt_tokens="{prompt}", completion_tokens="{completion}", total_tokens="{total}"
    )
    names = ("id", "created", "model", "content", "finish", "prompt", "completion", "total")
    integers = frozenset({"created", "prompt", "completion", "total"})
    return JsonTemplate(sample, names, integers=integers, inside=frozenset({"id"}))


_CHAT_TEMPLATE = _chat_template()
_MODELS_BOUND = 64  # templates kept for this many models (a deployment has a handful)
_by_model: dict[str, tuple[JsonTemplate, JsonTemplate]] = {}


def _templates(model: str) -> tuple[JsonTemplate, JsonTemplate]:
    """The body's template with the model and the finish reason in place: (stop, length)."""
    pair = (
        _CHAT_TEMPLATE.bind(model=model, finish="stop"),
        _CHAT_TEMPLATE.bind(model=model, finish="length"),
    )
    if len(_by_model) < _MODELS_BOUND:
        _by_model[model] = pair
    return pair


def chat_encoded(call: Call, completion: Completion) -> bytes | None:
    """``chat_body`` encoded, for the common reply (one text choice, no tool calls); else None.

    Every non-stream chat completion is one: filling a template of the encoded body, its values
    encoded here, costs half of building the dict and encoding it (issue 14 holds this route to
    an assistant completion's cost). The model and the finish reason are bound into the
    template, once per model: each value the ``%`` fills costs as much as encoding it.
    """
    if completion.steps or len(completion.choices) != 1:
        return None
    choice = completion.choices[0]
    model = call.body["model"]
    pair = _by_model.get(model) or _templates(model)
    prompt, produced = completion.prompt_tokens, completion.completion_tokens
    return pair[choice.truncated].fill_encoded(
        (
            completion.message_id.encode(),  # hex digits: inside the id's string, unescaped
            completion.created,
            _dumps(choice.text),
            prompt,
            produced,
            prompt + produced,
        )
    )


_dumps = orjson.dumps


def chat_frames(call: Call, completion: Completion, chunk_chars: int) -> Iterator[Frame]:
    """``chat.completion.chunk`` events per choice: role, content or tool-call deltas, finish.

    With ``stream_options.include_usage`` every chunk has ``usage: null`` and a last chunk
    without choices carries the usage; ``[DONE]`` ends the stream.
    """
    head = _head(call, completion, "chat.completion.chunk")
    include_usage = bool((call.body.get("stream_options") or {}).get("include_usage"))
    tail = {"usage": None} if include_usage else {}
    calls = _tool_calls(completion) if completion.steps else []

    def chunk(index: int, delta: dict[str, Any], finish: str | None = None) -> Frame:
        item = {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}
        return {**head, "choices": [item], **tail}

    for index, choice in enumerate(completion.choices):
        opening: dict[str, Any] = {"role": "assistant", "content": "", "refusal": None}
        if not choice.text and calls:
            opening["content"] = None
        yield chunk(index, opening)
        for piece in text_chunks(choice.text, chunk_chars):
            yield chunk(index, {"content": piece})
        for position, tool_call in enumerate(calls):
            function = tool_call["function"]
            start = {**tool_call, "index": position, "function": {**function, "arguments": ""}}
            yield chunk(index, {"tool_calls": [start]})
            for piece in text_chunks(function["arguments"], chunk_chars):
                argument = {"index": position, "function": {"arguments": piece}}
                yield chunk(index, {"tool_calls": [argument]})
        yield chunk(index, {}, _finish(completion, choice.truncated))
    if include_usage:
        yield {**head, "choices": [], "usage": openai_usage(completion)}
    yield DONE


def _is_text(frame: Frame) -> bool:
    if isinstance(frame, str):
        return False
    choices = frame.get("choices")
    return bool(choices and choices[0]["delta"].get("content"))


FORMATS = {_FORMAT: WireFormat(chat_body, chat_frames, is_text=_is_text, encoded=chat_encoded)}
"""The Chat Completions reply format."""
