"""Contract: requests and responses checked against the bundle, unknown fields included."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jsonschema_rs
import orjson

from mockserver.errors import SchemaError, json_path
from mockserver.schemas import Operation, SchemaBundle

__all__ = ["Contract", "Finding", "find_operation", "strict_schema"]

JSON = Any
_KIND = jsonschema_rs.ValidationErrorKind
# Keywords whose subschemas describe the same instance: their properties count as evaluated by
# the parent's unevaluatedProperties, so they must not get one of their own.
_IN_PLACE = ("allOf", "anyOf", "oneOf", "then", "else")
_SKIP = ("if", "not", "contains", "propertyNames", "const", "enum", "default", "examples")
_MAX_FINDINGS = 20


@dataclass(frozen=True, slots=True)
class Finding:
    """One disagreement with the contract: where (request/response), what kind, at which path."""

    where: str
    kind: str
    path: str
    message: str

    def __str__(self) -> str:
        at = f" at {self.path}" if self.path not in ("", "$") else ""
        return f"{self.where}: {self.kind}{at}: {self.message}"


def strict_schema(schema: JSON, *, closed: bool = True) -> JSON:
    """A copy where every object schema that lists ``properties`` rejects fields it does not list.

    The vendor's response schemas leave extra fields open (a client must tolerate them); the
    contract checks close them to see drift. ``unevaluatedProperties`` rather than
    ``additionalProperties``, so that properties declared in allOf/if-then branches still count.
    """
    if isinstance(schema, list):
        return [strict_schema(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _SKIP:
            out[key] = value
        elif key in ("properties", "patternProperties", "$defs"):
            out[key] = {name: strict_schema(sub) for name, sub in value.items()}
        elif key in _IN_PLACE:
            sub = [value] if isinstance(value, dict) else value
            opened = [strict_schema(item, closed=False) for item in sub]
            out[key] = opened[0] if isinstance(value, dict) else opened
        else:
            out[key] = strict_schema(value)
    lists_fields = "properties" in schema or any(
        isinstance(branch, dict) and "properties" in branch
        for keyword in ("allOf", "anyOf", "oneOf")
        for branch in schema.get(keyword, ())
    )
    open_ended = "additionalProperties" in schema or "unevaluatedProperties" in schema
    if closed and lists_fields and not open_ended:
        out["unevaluatedProperties"] = False
    return out


def _findings(where: str, error: jsonschema_rs.ValidationError) -> list[Finding]:
    kind = error.kind
    path = json_path(list(error.instance_path))
    if isinstance(kind, _KIND.Required):
        text = f"field {kind.property!r} is missing"
        return [
            Finding(where, "missing field", json_path([*error.instance_path, kind.property]), text)
        ]
    if isinstance(kind, _KIND.UnevaluatedProperties | _KIND.AdditionalProperties):
        return [
            Finding(
                where,
                "new field",
                json_path([*error.instance_path, name]),
                f"field {name!r} is not in the schema",
            )
            for name in kind.unexpected
        ]
    if isinstance(kind, _KIND.Type):
        return [Finding(where, "type change", path, error.message)]
    return [Finding(where, "constraint", path, error.message)]


def find_operation(bundle: SchemaBundle, method: str, path: str) -> Operation | None:
    """The operation serving ``method path`` (any manifest prefix; a trailing slash is ignored)."""
    path = path.split("?", 1)[0].rstrip("/") or "/"
    prefixes: list[str] = sorted(bundle.manifest.get("prefixes", [""]), key=len, reverse=True)
    for prefix in prefixes:
        if prefix and not path.startswith(prefix + "/"):
            continue
        rest = path[len(prefix) :]
        for op in bundle.operations.values():
            if op.method == method.upper() and op.match(rest) is not None:
                return op
    return None


class Contract:
    """The bundle's schemas closed against unknown fields, compiled once per schema file."""

    def __init__(self, bundle: SchemaBundle) -> None:
        self.bundle = bundle
        self._validators: dict[str, jsonschema_rs.Validator] = {}

    def validator(self, name: str, pointer: str = "") -> jsonschema_rs.Validator:
        """The strict validator of one schema file (or of the subschema at ``pointer`` in it)."""
        key = f"{name}#{pointer}"
        found = self._validators.get(key)
        if found is None:
            schema = self.bundle.dereferenced(name)
            for token in filter(None, pointer.split("/")):
                schema = schema[int(token)] if isinstance(schema, list) else schema[token]
            try:
                found = jsonschema_rs.Draft202012Validator(
                    strict_schema(schema), validate_formats=True
                )
            except ValueError as exc:
                raise SchemaError(name, pointer, str(exc)) from None
            self._validators[key] = found
        return found

    def compare(self, where: str, name: str, instance: JSON, pointer: str = "") -> list[Finding]:
        """Every disagreement of ``instance`` with schema file ``name`` (at ``pointer``)."""
        validator = self.validator(name, pointer)
        if validator.is_valid(instance):
            return []
        findings: list[Finding] = []
        for error in validator.iter_errors(instance):
            findings.extend(_findings(where, error))
            if len(findings) >= _MAX_FINDINGS:
                break
        return list(dict.fromkeys(findings))

    def request(
        self, op: Operation, body: JSON = None, query: dict[str, str] | None = None
    ) -> list[Finding]:
        """How a request body (or query) disagrees with the operation's request schema."""
        if op.request is not None and not op.multipart and body is not None:
            return self.compare("request", op.request, body)
        if op.query is not None and query is not None:
            return self.compare("request", op.query, query)
        return []

    def response(self, op: Operation, status: int, body: JSON) -> list[Finding]:
        """How a JSON response disagrees with the schema of its status (or the status itself)."""
        name = op.responses.get(status)
        if name is None:
            documented = ", ".join(str(s) for s in sorted(op.responses))
            text = f"HTTP {status} is not a documented status of {op.id} ({documented})"
            return [Finding("response", "undocumented status", "", text)]
        return self.compare("response", name, body)

    def check_sent(
        self, op: Operation, status: int, content_type: str | None, raw: bytes | None
    ) -> str | None:
        """Why a response the mock is about to send breaks the contract, or None.

        Streams (``text/event-stream``) are not checked: their events have no schema file, and
        checking them would mean buffering a response meant to trickle.
        """
        media = (content_type or "").split(";", 1)[0].strip().lower()
        if media == "text/event-stream" and status in op.responses:
            return None
        if raw is None:
            return f"HTTP {status} with an unreadable body ({media or 'no content type'})"
        if media != "application/json":
            findings = self.response(op, status, None)  # an undocumented status is said first
            if findings and findings[0].kind == "undocumented status":
                return str(findings[0])
            return f"HTTP {status} sent as {media or 'no content type'}, not application/json"
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            return f"HTTP {status} body is not JSON: {exc}"
        findings = self.response(op, status, body)
        if not findings:
            return None
        return f"{op.id} HTTP {status}: " + "; ".join(str(f) for f in findings[:5])
