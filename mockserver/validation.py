"""Request validation: a compiled fast path, and Zod-like issues to explain a failure."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import jsonschema_rs

from .errors import BadRequest, FieldError
from .schemas import SchemaBundle

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


def _issue(
    bundle: SchemaBundle, name: str, error: jsonschema_rs.ValidationError
) -> list[FieldError]:
    kind = error.kind
    path = tuple(error.instance_path)
    value = error.instance
    if isinstance(kind, _KIND.Required):
        return [FieldError((*path, kind.property), "invalid_type", "Required")]
    if isinstance(kind, _KIND.AdditionalProperties):
        return [
            FieldError((*path, key), "unrecognized_keys", f"Unrecognized key: '{key}'")
            for key in kind.unexpected
        ]
    if isinstance(kind, _KIND.Type):
        expected = _expected_types(kind.types)
        return [
            FieldError(path, "invalid_type", f"Expected {expected}, received {_received(value)}")
        ]
    if isinstance(kind, _KIND.MaxLength):
        text = f"String must contain at most {kind.limit} character(s)"
        return [FieldError(path, "too_big", text)]
    if isinstance(kind, _KIND.MinLength):
        text = f"String must contain at least {kind.limit} character(s)"
        return [FieldError(path, "too_small", text)]
    if isinstance(kind, _KIND.MaxItems):
        return [FieldError(path, "too_big", f"Array must contain at most {kind.limit} element(s)")]
    if isinstance(kind, _KIND.MinItems):
        return [
            FieldError(path, "too_small", f"Array must contain at least {kind.limit} element(s)")
        ]
    if isinstance(kind, _KIND.Maximum | _KIND.ExclusiveMaximum):
        bound = "less than" if isinstance(kind, _KIND.ExclusiveMaximum) else "less than or equal to"
        return [FieldError(path, "too_big", f"Number must be {bound} {kind.limit}")]
    if isinstance(kind, _KIND.Minimum | _KIND.ExclusiveMinimum):
        exclusive = isinstance(kind, _KIND.ExclusiveMinimum)
        bound = "greater than" if exclusive else "greater than or equal to"
        return [FieldError(path, "too_small", f"Number must be {bound} {kind.limit}")]
    if isinstance(kind, _KIND.Enum):
        options = " | ".join(f"'{option}'" for option in kind.options)
        text = f"Invalid enum value. Expected {options}, received '{value}'"
        return [FieldError(path, "invalid_enum_value", text)]
    if isinstance(kind, _KIND.Constant):
        text = f"Invalid literal value, expected {kind.expected_value!r}"
        return [FieldError(path, "invalid_enum_value", text)]
    if isinstance(kind, _KIND.Format):
        return [FieldError(path, "invalid_string", f"Invalid {kind.format}")]
    if isinstance(kind, _KIND.MultipleOf):
        return [
            FieldError(path, "not_multiple_of", f"Number must be a multiple of {kind.multiple_of}")
        ]
    if isinstance(kind, _KIND.OneOfNotValid | _KIND.OneOfMultipleValid):
        return [
            FieldError(path, "invalid_union", _union_message(bundle, name, list(error.schema_path)))
        ]
    return [FieldError(path, "custom", error.message)]


def _expected_types(types: str | list[str]) -> str:
    return types if isinstance(types, str) else " | ".join(types)


def explain(bundle: SchemaBundle, name: str, instance: Any) -> Verdict:
    """Every violated constraint of ``instance`` against schema file ``name``, in document order."""
    errors: list[FieldError] = []
    warnings: list[FieldError] = []
    try:
        for error in bundle.validator(name).iter_errors(instance):
            for issue in _issue(bundle, name, error):
                (warnings if issue.code == "unrecognized_keys" else errors).append(issue)
    except ValueError:
        # jsonschema_rs copies the failing instance into each error and gives up past ~255 levels;
        # orjson parses up to 1024, so a body that deep and invalid is refused here, not with a 500.
        raise BadRequest("Request body is not valid JSON: nested too deeply") from None
    errors.sort(key=lambda issue: [str(token) for token in issue.path])
    return Verdict(tuple(dict.fromkeys(errors)), tuple(dict.fromkeys(warnings)))


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
