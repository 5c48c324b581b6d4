"""Request validation: a compiled fast path, and Zod-like issues to explain a failure."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jsonschema_rs

from mockserver.errors import BadRequest, FieldError
from mockserver.schemas import SchemaBundle

__all__ = ["Verdict", "check", "explain", "strip_unknown"]

_KIND = jsonschema_rs.ValidationErrorKind
_JSON_TYPES = {
    bool: "boolean",
    int: "number",
    float: "number",
    str: "string",
    list: "array",
    dict: "object",
}


@dataclass(frozen=True, slots=True)
class Verdict:
    """What validation found: violations (400) and unknown fields (warnings, or 400 when strict)."""

    errors: tuple[FieldError, ...] = ()
    warnings: tuple[FieldError, ...] = ()


CLEAN = Verdict()


def _received(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, float) and value.is_integer():
        return "number"
    return _JSON_TYPES.get(type(value), "unknown")


def _schema_at(schema: dict[str, Any], path: list[str | int]) -> Any:
    node: Any = schema
    for token in path:
        node = node[int(token)] if isinstance(node, list) else node[token]
    return node


def _union_message(bundle: SchemaBundle, name: str, schema_path: list[str | int]) -> str:
    """'Exactly one of a or b is required' from a oneOf whose branches each require one field."""
    try:
        branches = _schema_at(bundle.dereferenced(name), schema_path[:-1])["oneOf"]
        names = [branch["required"][0] for branch in branches]
    except (KeyError, IndexError, TypeError, ValueError):
        return "Invalid input"
    return "Exactly one of " + " or ".join(names) + " must be provided"


# One function per jsonschema_rs error kind: (path, failing value, kind) -> the Zod-like issue.
_Rule = Callable[[tuple[str | int, ...], Any, Any], FieldError]


def _type(path: tuple[str | int, ...], value: Any, kind: Any) -> FieldError:
    types = kind.types
    expected = types if isinstance(types, str) else " | ".join(types)
    return FieldError(path, "invalid_type", f"Expected {expected}, received {_received(value)}")


def _bound(code: str, text: str) -> _Rule:
    def rule(path: tuple[str | int, ...], value: Any, kind: Any) -> FieldError:
        return FieldError(path, code, text.format(kind.limit))

    return rule


def _enum(path: tuple[str | int, ...], value: Any, kind: Any) -> FieldError:
    options = " | ".join(f"'{option}'" for option in kind.options)
    text = f"Invalid enum value. Expected {options}, received '{value}'"
    return FieldError(path, "invalid_enum_value", text)


def _constant(path: tuple[str | int, ...], value: Any, kind: Any) -> FieldError:
    text = f"Invalid literal value, expected {kind.expected_value!r}"
    return FieldError(path, "invalid_enum_value", text)


def _format(path: tuple[str | int, ...], value: Any, kind: Any) -> FieldError:
    return FieldError(path, "invalid_string", f"Invalid {kind.format}")


def _multiple_of(path: tuple[str | int, ...], value: Any, kind: Any) -> FieldError:
    text = f"Number must be a multiple of {kind.multiple_of}"
    return FieldError(path, "not_multiple_of", text)


_RULES: dict[type, _Rule] = {
    _KIND.Type: _type,
    _KIND.MaxLength: _bound("too_big", "String must contain at most {} character(s)"),
    _KIND.MinLength: _bound("too_small", "String must contain at least {} character(s)"),
    _KIND.MaxItems: _bound("too_big", "Array must contain at most {} element(s)"),
    _KIND.MinItems: _bound("too_small", "Array must contain at least {} element(s)"),
    _KIND.Maximum: _bound("too_big", "Number must be less than or equal to {}"),
    _KIND.ExclusiveMaximum: _bound("too_big", "Number must be less than {}"),
    _KIND.Minimum: _bound("too_small", "Number must be greater than or equal to {}"),
    _KIND.ExclusiveMinimum: _bound("too_small", "Number must be greater than {}"),
    _KIND.Enum: _enum,
    _KIND.Constant: _constant,
    _KIND.Format: _format,
    _KIND.MultipleOf: _multiple_of,
}
_UNIONS = (_KIND.OneOfNotValid, _KIND.OneOfMultipleValid)


def _other_issues(
    bundle: SchemaBundle, name: str, error: jsonschema_rs.ValidationError
) -> list[FieldError]:
    """Issues of the kinds without a rule: one per unknown key, a union, or the raw message."""
    kind = error.kind
    path = tuple(error.instance_path)
    if isinstance(kind, _KIND.Required):
        return [FieldError((*path, kind.property), "invalid_type", "Required")]
    if isinstance(kind, _KIND.AdditionalProperties):
        return [
            FieldError((*path, key), "unrecognized_keys", f"Unrecognized key: '{key}'")
            for key in kind.unexpected
        ]
    if isinstance(kind, _UNIONS):
        message = _union_message(bundle, name, list(error.schema_path))
        return [FieldError(path, "invalid_union", message)]
    return [FieldError(path, "custom", error.message)]


def _as_text(issue: FieldError) -> tuple[tuple[str, ...], str, str]:
    return tuple(map(str, issue.path)), issue.code, issue.message


def explain(bundle: SchemaBundle, name: str, instance: Any) -> Verdict:
    """Every violated constraint of ``instance`` against schema file ``name``, in document order."""
    errors: list[FieldError] = []
    warnings: list[FieldError] = []
    rules = _RULES
    try:
        for error in bundle.validator(name).iter_errors(instance):
            kind = error.kind
            rule = rules.get(type(kind))
            if rule is not None:  # the common kinds: one issue, no lookups
                errors.append(rule(tuple(error.instance_path), error.instance, kind))
                continue
            for issue in _other_issues(bundle, name, error):
                (warnings if issue.code == "unrecognized_keys" else errors).append(issue)
    except ValueError:
        # jsonschema_rs copies the failing instance into each error and gives up past ~255 levels;
        # orjson parses up to 1024, so a body that deep and invalid is refused here, not with a 500.
        raise BadRequest("Request body is not valid JSON: nested too deeply") from None
    try:
        # Issues are (path, code, message) tuples: sorted as they stand, in document order (array
        # items by index). Paths that agree up to a token reach the same node, whose tokens are
        # all ints (an array) or all strings (an object); the text order is a safety net.
        errors.sort()
    except TypeError:
        errors.sort(key=_as_text)
    # A oneOf can report what its branches report too: each issue once.
    unique = tuple(dict.fromkeys(errors)) if len(errors) > 1 else tuple(errors)
    return Verdict(unique, tuple(dict.fromkeys(warnings)) if warnings else ())


def check(bundle: SchemaBundle, name: str, instance: Any) -> Verdict:
    """The fast path: a compiled yes; only a failure pays for ``explain``."""
    if bundle.validator(name).is_valid(instance):
        return CLEAN
    return explain(bundle, name, instance)


def strip_unknown(instance: Any, warnings: tuple[FieldError, ...]) -> Any:
    """A copy of ``instance`` without the unknown fields ``warnings`` name (Zod strips them too)."""
    if not warnings:
        return instance
    stripped = copy.deepcopy(instance)
    for warning in warnings:
        *parents, key = warning.path
        node: Any = stripped
        for token in parents:
            node = node[token]
        if isinstance(node, dict):
            node.pop(key, None)
    return stripped
