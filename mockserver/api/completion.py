"""The completion pipeline both families share: reply choice, structured output, tokens, limits."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, NamedTuple

import jsonschema_rs
import orjson

from mockserver.api.outcome import Completion
from mockserver.api.scripted import ABSENT, ReplyRequest, ScriptedReply
from mockserver.api.structured_output import sample
from mockserver.auth import Principal
from mockserver.errors import (
    FieldError,
    NotFound,
    RateLimited,
    ValidationFailed,
)
from mockserver.ratelimit import estimate_tokens
from mockserver.state import MockState

__all__ = [
    "Target",
    "charge",
    "complete",
    "limit_key",
    "require_attachments",
    "require_folders",
    "require_model",
    "structured_output",
]

RESOURCE_NOT_FOUND = "Resource not found (model, action or attachment)"  # knowledge folders too


class Target(NamedTuple):
    """What a completion runs on: a stored assistant/agent or an inline configuration."""

    family: str
    target_id: str | None
    model: str
    instructions: str
    texts: tuple[str, ...]


def require_model(state: MockState, model: str) -> None:
    """404 unless the model is in the catalogue."""
    if model not in state.models:
        raise NotFound(RESOURCE_NOT_FOUND)


def require_attachments(state: MockState, workspace: str, ids: list[str] | tuple[str, ...]) -> None:
    """404 unless every attachment id is a live attachment of the workspace."""
    for attachment_id in ids:
        if state.store.attachment(attachment_id, workspace) is None:
            raise NotFound(RESOURCE_NOT_FOUND)


def require_folders(
    state: MockState, principal: Principal, ids: list[str] | tuple[str, ...]
) -> None:
    """404 unless every knowledge folder id is a folder shared with the key."""
    folders = state.store.folders
    for folder_id in ids:
        folder = folders.get(folder_id)
        if folder is None or not folder.visible_to(principal.key, principal.workspace):
            raise NotFound(RESOURCE_NOT_FOUND)


# Seeds tried before giving up on a schema the sampler cannot satisfy (a pattern, say).
_OUTPUT_ATTEMPTS = 16


def _output(state: MockState, spec: dict[str, Any], number: int, text: str) -> Any:
    kind = spec["type"]
    if kind == "enum":
        options = spec["enum"]
        return options[number % len(options)]
    schema = spec.get("schema")
    if schema is None:
        if kind == "object":
            return {"answer": text}
        schema = {"type": "string"}
    # array: the schema describes one item; the value is two of them.
    values = structured_output(schema, number, ("output", "schema"), 2 if kind == "array" else 1)
    return values if kind == "array" else values[0]


def structured_output(
    schema: Any, number: int, path: tuple[str | int, ...], count: int = 1
) -> list[Any]:
    """``count`` values that validate against ``schema``, fixed by ``number``.

    A schema that does not compile, or that the sampler cannot satisfy, is a 400 at ``path``
    (the request field that holds the schema).
    """
    try:
        validator = jsonschema_rs.validator_for(schema)
    except (ValueError, jsonschema_rs.ReferencingError) as exc:
        raise ValidationFailed(
            (FieldError(path, "custom", f"Invalid JSON Schema: {exc}"),)
        ) from None
    for attempt in range(_OUTPUT_ATTEMPTS):
        values = [sample(schema, number + attempt * count + offset) for offset in range(count)]
        if all(validator.is_valid(value) for value in values):
            return values
    # A value that does not validate would be a silent lie; say so and point at scripting.
    text = "langdock-mock cannot generate a value for this schema; script it: POST /__admin/replies"
    raise ValidationFailed((FieldError(path, "custom", text),))


def _scripted_text(reply: ScriptedReply, body: dict[str, Any]) -> str | None:
    if reply.responder is not None:
        return str(reply.responder(body))
    return reply.text


def limit_key(state: MockState, key: str) -> str | None:
    """The API key a request's window is counted by: its own in profile 2026, none in seed."""
    return key if state.settings.profile == "2026" else None


def charge(
    state: MockState,
    workspace: str,
    model: str,
    prompt: int,
    total: int,
    key: str | None,
    now: float | None = None,
) -> Mapping[str, str]:
    """Count a request against its window (429 if refused); the rate-limit headers to send.

    ``key`` is the caller's API key, counted by only where the profile says so (``limit_key``);
    ``now`` the mock clock's reading, where the caller has taken one (the limiter's otherwise).
    """
    settings = state.settings
    if not settings.rate_limits:
        return _NO_HEADERS
    with_headers = settings.rate_limit_headers
    decision = state.limiter.acquire(
        workspace,
        model,
        prompt,
        total,
        report=with_headers,
        key=limit_key(state, key) if key else None,
        now=now,
    )
    if decision is None:  # allowed, and nobody asked for headers
        return _NO_HEADERS
    headers = decision.headers() if with_headers else _NO_HEADERS
    if not decision.allowed:
        raise RateLimited(
            decision.message(model), headers=dict(headers), model=model, limit=decision.reason
        )
    return headers


def complete(
    state: MockState,
    workspace: str,
    target: Target,
    body: dict[str, Any],
    stream: bool,
    key: str | None = None,
) -> Completion:
    """Choose or generate the reply, count it against the limits, and return it.

    Runs under the state lock: a scripted reply is consumed and the limiter charged only when the
    request is allowed, so a refused request changes nothing. ``key`` is the caller's API key.
    """
    settings = state.settings
    material = orjson.dumps([target.target_id, target.instructions, body.get("messages")])
    number = state.writer.number(material)
    script = state.script
    request: ReplyRequest | None = None
    scripted: ScriptedReply | None = None
    if script:  # most completions have no scripted reply waiting
        request = ReplyRequest(target.family, target.target_id, target.texts, body)
        scripted = script.peek(request)
    text = _scripted_text(scripted, body) if scripted is not None else None
    if text is None:
        text = state.writer.text_for(number)
    steps = scripted.tools if scripted is not None else ()
    # maxSteps is at least 1, so a reply without scripted steps never needs it (nor the
    # schema lookup of its default, every completion otherwise).
    max_steps = body.get("maxSteps", _default_max_steps(state)) if steps else 1
    if len(steps) >= max_steps:
        # Every allowed step went to a tool call: the run stops before the model answers.
        steps, text = steps[:max_steps], ""
    output: Any = ABSENT
    if scripted is not None and scripted.output is not ABSENT:
        output = scripted.output
    elif "output" in body:
        output = _output(state, body["output"], number, text)
    prompt = estimate_tokens(
        sum(map(len, target.texts)) + len(target.instructions), settings.chars_per_token
    )
    # Characters, not bytes: the estimate is ceil(characters / chars_per_token).
    produced = len(text) + (len(orjson.dumps(output).decode()) if output is not ABSENT else 0)
    total = prompt + estimate_tokens(produced, settings.chars_per_token)
    headers = charge(state, workspace, target.model, prompt, total, key)
    if request is not None and scripted is not None:
        script.take(request)
    return Completion.make(
        family=target.family,
        message_id=state.new_id(),
        text=text,
        steps=steps,
        output=None if output is ABSENT else output,
        has_output=output is not ABSENT,
        stream=stream,
        headers=headers,
        step_ids=tuple(state.new_id() for _ in steps) if steps else (),
        prompt_tokens=prompt,
        completion_tokens=total - prompt,
        model=target.model,
        target_id=target.target_id,
    )


_NO_HEADERS: Mapping[str, str] = MappingProxyType({})


def _default_max_steps(state: MockState) -> int:
    return int(state.bundle.resolve("defs/completion-fields.json", "/$defs/maxSteps")["default"])
