"""What the provider families share: their models, the reply pipeline, tokens and limits.

Every family's operation reads its request into a ``Prompt`` and calls ``generate``, which picks
the scripted reply (or writes one from the seed), forces a tool call when the request demands
one, fills structured output from a schema, cuts each choice at the request's token limit, and
charges the shared limiter exactly the tokens the reply's ``usage`` reports.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from types import MappingProxyType
from typing import Any, NamedTuple

import orjson

from mockserver.api.completion import charge, structured_output
from mockserver.api.frames import Frame
from mockserver.api.outcome import Call, Choice, Completion
from mockserver.api.prose import ReplyWriter
from mockserver.api.scripted import ABSENT, ReplyRequest, ScriptedReply
from mockserver.config import ModelSpec
from mockserver.errors import FieldError, NotFound, ValidationFailed
from mockserver.ratelimit import estimate_tokens
from mockserver.state import MockState

__all__ = [
    "ForcedTool",
    "Prompt",
    "WireFormat",
    "display_name",
    "family_models",
    "generate",
    "prompt_tokens",
    "require_model",
]


def display_name(model_id: str) -> str:
    """A model's name as people write it: ``claude-sonnet-4-5@20250929`` is Claude Sonnet 4.5."""
    words: list[str] = []
    for word in model_id.partition("@")[0].split("-"):
        if word.isdigit() and words and words[-1][-1:].isdigit():
            words[-1] += "." + word  # 4-5 is version 4.5
        else:
            words.append(word if word[:1].isdigit() else word.capitalize())
    return " ".join(words)


def family_models(state: MockState, family: str) -> list[ModelSpec]:
    """The catalogue's models a family serves, in catalogue order."""
    families = state.families
    return [model for model in state.models.values() if families[model.id] == family]


def require_model(state: MockState, family: str, model: str) -> None:
    """404 ``model_not_found`` in the family's shape unless the family serves the model."""
    if state.families.get(model) != family:  # one lookup: every provider completion runs this
        raise NotFound(
            f"The model `{model}` does not exist or you do not have access to it.",
            code="model_not_found",
            param="model",
        )


class Prompt(NamedTuple):
    """What a request asks: its family's wire format, model, system text and message texts.

    ``format`` names the reply's body and stream in ``registry.FORMATS`` (``openai.chat``);
    ``texts`` are every message's text, what the prompt's tokens and a scripted reply's
    ``contains`` are counted and matched on.
    """

    format: str
    model: str
    instructions: str
    texts: tuple[str, ...]


def _never(frame: Frame) -> bool:
    return False


class WireFormat(NamedTuple):
    """How a reply format goes over the wire: its JSON body, and its stream's frames.

    Both are pure functions of the call and the completion. ``named_events`` sends each frame's
    ``type`` as the SSE ``event:`` (Anthropic, OpenAI Responses); ``is_text`` tells the frames
    that carry text, which ``stream_delay_ms`` paces. ``encoded``, where given, is ``body``
    already encoded for the replies it can do faster, None for the others. ``array``: a stream
    goes out as one JSON array of its frames instead of SSE (Google's streamGenerateContent
    without ``alt=sse``).
    """

    body: Callable[[Call, Completion], dict[str, Any]]
    frames: Callable[[Call, Completion, int], Iterator[Frame]]
    headers: Mapping[str, str] = MappingProxyType({})
    named_events: bool = False
    is_text: Callable[[Frame], bool] = _never
    encoded: Callable[[Call, Completion], bytes | None] | None = None
    array: bool = False


class ForcedTool(NamedTuple):
    """A tool call the request demands (``tool_choice``): its name and parameters' schema.

    ``path`` is where the schema sits in the request, for the 400 when none can be sampled.
    ``named`` are the tools the request confines calls to (a ``tool_choice`` naming one,
    Google's ``allowedFunctionNames``); empty when any tool will do.
    """

    name: str
    parameters: dict[str, Any]
    path: tuple[str | int, ...]
    named: tuple[str, ...] = ()


def prompt_tokens(state: MockState, instructions: str, texts: Sequence[str]) -> int:
    """The prompt's tokens: ceil(characters / chars_per_token), as every family counts them."""
    return estimate_tokens(len(instructions) + sum(map(len, texts)), state.settings.chars_per_token)


def _object_schema(tool: ForcedTool) -> Any:
    """A tool's parameters as the schema of an object: a call's arguments are one.

    A schema that names no type is held to objects (``{}`` and ``true`` admit anything, and a
    call of a string is no call); one that names another type is a 400, as the providers refuse
    it (OpenAI: "schema must be a JSON Schema of 'type: \"object\"'").
    """
    schema: Any = tool.parameters  # a bool too: Google's parametersJsonSchema may be one
    if schema is True:
        return {"type": "object"}
    if isinstance(schema, dict):
        kind = schema.get("type")
        if kind is None:
            return {**schema, "type": "object"}
        if kind == "object" or (isinstance(kind, list) and "object" in kind):
            return {**schema, "type": "object"}
    text = f"Invalid schema for function '{tool.name}': schema must be a JSON Schema of type object"
    raise ValidationFailed((FieldError(tool.path, "custom", text),))


def _text(reply: ScriptedReply | None, body: dict[str, Any]) -> str | None:
    if reply is None:
        return None
    if reply.responder is not None:
        return str(reply.responder(body))
    return reply.text


_new = tuple.__new__


def _cut(text: str, limit: int | None) -> Choice:
    if limit is None or len(text) <= limit:
        return _new(Choice, (text, False))  # Choice(text) is twice the cost: __new__ is Python
    return Choice(text[:limit], truncated=True)


def _scripted(
    scripted: ScriptedReply | None,
    body: dict[str, Any],
    number: int,
    tool: ForcedTool | None,
    allow_tools: bool,
) -> tuple[tuple[dict[str, Any], ...], str | None]:
    """The reply's tool calls and fixed text, from a scripted reply or a forced tool call."""
    steps: tuple[dict[str, Any], ...] = scripted.tools if scripted is not None else ()
    if not allow_tools:
        steps = ()
    elif tool is not None and tool.named:
        steps = tuple(step for step in steps if step.get("toolName") in tool.named)
    if not steps and tool is not None and allow_tools:
        args = structured_output(_object_schema(tool), number, tool.path)[0]
        steps = ({"toolName": tool.name, "args": args},)
    fixed = _text(scripted, body)
    if fixed is None and steps:
        fixed = ""  # a turn of tool calls: the client answers them before the model goes on
    return steps, fixed


def _numbers(writer: ReplyWriter, material: bytes, number: int, choices: int) -> Iterator[int]:
    # Each choice its own number, so n alternatives differ; the first is the seed's.
    for index in range(choices):
        yield number if index == 0 else writer.number(material + b"#%d" % index)


def _choice_text(
    state: MockState,
    scripted: ScriptedReply | None,
    fixed: str | None,
    schema: dict[str, Any] | None,
    schema_path: tuple[str | int, ...],
    drawn: int,
) -> str:
    if fixed is not None:
        if schema is not None and scripted is not None and scripted.output is not ABSENT:
            return orjson.dumps(scripted.output).decode()
        return fixed
    if schema is not None:
        return orjson.dumps(structured_output(schema, drawn, schema_path)[0]).decode()
    return state.writer.text_for(drawn)


def generate(
    state: MockState,
    call: Call,
    prompt: Prompt,
    *,
    stream: bool = False,
    choices: int = 1,
    max_tokens: int | None = None,
    schema: dict[str, Any] | None = None,
    schema_path: tuple[str | int, ...] = (),
    tool: ForcedTool | None = None,
    allow_tools: bool = True,
) -> Completion:
    """The reply to a provider request, counted against the limits (429 when refused).

    - A scripted reply that matches (family, ``contains``) gives the text and the tool calls;
      with tool calls and no text, the reply is the calls alone (the client runs the tools).
    - ``tool``: with nothing scripted, one call of it, its arguments sampled from its schema;
      when the request names tools (``tool.named``), scripted calls of others are dropped.
    - ``allow_tools=False`` (``tool_choice`` none): no tool calls, scripted or forced; a
      scripted reply of calls alone answers with the seed's text instead.
    - ``schema``: each choice's text is JSON that validates against it (a scripted ``output``
      is used as given).
    - ``max_tokens``: each choice is cut to that many tokens' characters, and says so.

    Runs under the state lock the endpoint holds: a refused request consumes no scripted reply
    and counts nothing.
    """
    settings = state.settings
    body = call.body
    family = call.operation.family
    writer = state.writer
    material = orjson.dumps([family, prompt.instructions, prompt.texts])
    number = writer.number(material)
    script = state.script
    request: ReplyRequest | None = None
    scripted: ScriptedReply | None = None
    if script:
        request = ReplyRequest(family, None, prompt.texts, body)
        scripted = script.peek(request)
    steps: tuple[dict[str, Any], ...] = ()
    fixed: str | None = None
    if scripted is not None or tool is not None:
        steps, fixed = _scripted(scripted, body, number, tool, allow_tools)
    if choices == 1 and fixed is None and schema is None:
        texts = [writer.text_for(number)]  # the common reply: one choice of the seed's prose
    else:
        texts = [
            _choice_text(state, scripted, fixed, schema, schema_path, drawn)
            for drawn in _numbers(writer, material, number, choices)
        ]
    per_token = settings.chars_per_token
    limit = None if max_tokens is None else max_tokens * per_token
    cut: tuple[Choice, ...]
    if len(texts) == 1:  # most requests: no comprehension (each one is a function call)
        first = texts[0]
        # Without a token limit, the choice as written: not even _cut's call.
        cut = (_new(Choice, (first, False)) if limit is None else _cut(first, limit),)
        produced = len(cut[0].text)
    else:
        cut = tuple([_cut(text, limit) for text in texts])
        produced = sum([len(choice.text) for choice in cut])
    prompt_count = prompt_tokens(state, prompt.instructions, prompt.texts)
    if steps:
        produced += sum(
            [
                len(orjson.dumps(step.get("args", {}))) + len(step.get("toolName", ""))
                for step in steps
            ]
        )
    total = prompt_count + estimate_tokens(produced, per_token)
    principal = call.principal
    # One reading of the clock for the limiter and the reply's ``created`` (2.1k instructions
    # a reading: issue 14 holds this path to an assistant completion's cost).
    now = state.clock.now()
    headers = charge(
        state, principal.workspace, prompt.model, prompt_count, total, principal.key, now
    )
    if request is not None and scripted is not None:
        script.take(request)
    return Completion.make(
        family=prompt.format,
        # The UUID's hex digits: what every family's id is made of (chatcmpl-, msg_, resp_).
        message_id=state.new_id(dashes=False),
        text=cut[0].text if cut else "",
        steps=steps,
        stream=stream,
        headers=headers,
        step_ids=tuple([state.new_id() for _ in steps]) if steps else (),
        prompt_tokens=prompt_count,
        completion_tokens=total - prompt_count,
        choices=cut,
        created=int(now),
        model=prompt.model,  # what the limiter charged: the journal's, the usage export's
    )
