"""The schema bundle: api.json's operations and every schema file, patched for one profile."""

from __future__ import annotations

import copy
import functools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonpatch
import jsonschema_rs

from mockserver.config import default_schema_dir
from mockserver.errors import SchemaError

__all__ = ["Operation", "SchemaBundle", "expand_path", "load_bundle"]

JSON = Any

_PARAMETER = re.compile(r"{(\w+)}")


@dataclass(frozen=True, slots=True)
class Operation:
    """One endpoint of the contract, as api.json declares it."""

    id: str
    method: str
    path: str
    family: str
    scope: str | None
    summary: str
    request: str | None = None
    query: str | None = None
    responses: dict[int, str] = field(default_factory=dict)
    admin: bool = False
    rate_limited: bool = False
    envelope: str = "message"
    multipart: bool = False
    # Headers besides Authorization that carry the key as it is (x-api-key), lower-case.
    key_headers: tuple[bytes, ...] = ()
    # The path's {name} segments, and a pattern matching a concrete path (values by name).
    parameters: tuple[str, ...] = ()
    pattern: re.Pattern[str] | None = None
    streamed: bool = False  # multipart read as it arrives, files spooled (knowledge uploads)
    # Query parameters the handler reads beside a JSON body (Google's alt), in ``Call.params``.
    query_options: tuple[str, ...] = ()

    @property
    def body_schema(self) -> str | None:
        """The schema that validates the request: the JSON body's, else the query's."""
        return self.request or self.query

    def match(self, path: str) -> dict[str, str] | None:
        """The path parameters if ``path`` (without prefix) is this operation's, else None."""
        if self.pattern is None:
            return {} if path == self.path else None
        found = self.pattern.fullmatch(path)
        return found.groupdict() if found else None


@dataclass(frozen=True)
class SchemaBundle:
    """Immutable: the manifest, the patched documents and a registry that resolves their $refs."""

    root: Path
    profile: str
    manifest: dict[str, Any]
    documents: dict[str, dict[str, Any]]
    operations: dict[str, Operation]
    registry: jsonschema_rs.Registry
    base: str

    def uri(self, name: str) -> str:
        """The $id of a schema file named relative to the schema folder."""
        return self.base + name

    def document(self, name: str) -> dict[str, Any]:
        """A schema file after the profile's patches (do not mutate)."""
        try:
            return self.documents[name]
        except KeyError:
            raise SchemaError(name, "", "no such schema file") from None

    def resolve(self, name: str, pointer: str = "") -> JSON:
        """The value at a JSON pointer inside a schema file."""
        node: JSON = self.document(name)
        for token in filter(None, pointer.split("/")):
            token = token.replace("~1", "/").replace("~0", "~")
            node = node[int(token)] if isinstance(node, list) else node[token]
        return node

    @functools.cached_property
    def _validators(self) -> dict[str, jsonschema_rs.Validator]:
        return {}

    def validator(self, name: str) -> jsonschema_rs.Validator:
        """A compiled validator for one schema file (cached)."""
        found = self._validators.get(name)
        if found is None:
            try:
                found = jsonschema_rs.Draft202012Validator(
                    self.document(name), registry=self.registry, validate_formats=True
                )
            except (ValueError, jsonschema_rs.ReferencingError) as exc:
                raise SchemaError(name, "", str(exc)) from None
            self._validators[name] = found
        return found

    @functools.cached_property
    def _dereferenced(self) -> dict[str, dict[str, Any]]:
        return {}

    def dereferenced(self, name: str) -> dict[str, Any]:
        """A schema file with every $ref inlined, cached (do not mutate)."""
        found = self._dereferenced.get(name)
        if found is None:
            try:
                found = jsonschema_rs.dereference(
                    copy.deepcopy(self.document(name)), registry=self.registry, offline=True
                )
            except jsonschema_rs.ReferencingError as exc:
                raise SchemaError(name, "", str(exc)) from None
            self._dereferenced[name] = found
        return found

    def operation(self, operation_id: str) -> Operation:
        """The operation with this id."""
        try:
            return self.operations[operation_id]
        except KeyError:
            raise SchemaError(
                "api.json", f"/operations/{operation_id}", "unknown operation"
            ) from None


def _read_json(path: Path, root: Path) -> dict[str, Any]:
    name = path.relative_to(root).as_posix()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SchemaError(name, "", f"cannot read: {exc}") from None
    if not isinstance(data, dict):
        raise SchemaError(name, "", "a schema file must hold a JSON object")
    return data


def _pattern(path: str, parameters: dict[str, Any]) -> re.Pattern[str]:
    # A parameter with an enum matches only its values (regions); any other one segment.
    pieces = []
    for index, part in enumerate(_PARAMETER.split(path)):
        if index % 2 == 0:  # split() alternates literal text and parameter names
            pieces.append(re.escape(part))
        else:
            values = parameters.get(part, {}).get("enum")
            choice = "|".join(map(re.escape, values)) if values else "[^/]+"
            pieces.append(f"(?P<{part}>{choice})")
    return re.compile("".join(pieces))


def expand_path(path: str, parameters: dict[str, Any]) -> list[tuple[str, dict[str, str]]]:
    """A template's paths with every enumerated parameter filled in, and the values used.

    ``/openai/{region}/v1/models`` becomes three paths, one per region. A free parameter (a
    model name) stays in the path, for the router to match.
    """
    expanded: list[tuple[str, dict[str, str]]] = [(path, {})]
    for name in _PARAMETER.findall(path):
        values = parameters.get(name, {}).get("enum")
        if values:
            expanded = [
                (concrete.replace(f"{{{name}}}", value, 1), {**given, name: value})
                for concrete, given in expanded
                for value in values
            ]
    return expanded


def _operation(op_id: str, raw: dict[str, Any], parameters: dict[str, Any]) -> Operation:
    try:
        path = raw["path"]
        names = tuple(_PARAMETER.findall(path))
        return Operation(
            id=op_id,
            method=raw["method"],
            path=path,
            family=raw["family"],
            scope=raw.get("scope"),
            summary=raw.get("summary", ""),
            request=raw.get("request"),
            query=raw.get("query"),
            responses={int(status): ref for status, ref in raw.get("responses", {}).items()},
            admin=bool(raw.get("admin", False)),
            rate_limited=bool(raw.get("rateLimited", False)),
            envelope=raw.get("envelope", "message"),
            multipart=bool(raw.get("multipart", False)),
            key_headers=tuple(name.lower().encode("latin-1") for name in raw.get("keyHeaders", ())),
            parameters=names,
            pattern=_pattern(path, parameters) if names else None,
            streamed=raw.get("multipart") == "streamed",
            query_options=tuple(raw.get("queryOptions", ())),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise SchemaError("api.json", f"/operations/{op_id}", f"bad operation: {exc}") from None


@functools.cache
def load_bundle(root: Path | None = None, profile: str = "seed") -> SchemaBundle:
    """Load and patch every schema once per (folder, profile); shared by servers and strategies."""
    root = (root or default_schema_dir()).resolve()
    manifest = _read_json(root / "api.json", root)
    base = manifest.get("schemaBase", "https://langdock-mock.dev/schemas/")
    profiles = manifest.get("profiles", {})
    if profile not in profiles:
        raise SchemaError("api.json", "/profiles", f"unknown profile {profile!r}")
    documents = {
        path.relative_to(root).as_posix(): _read_json(path, root)
        for path in sorted(root.rglob("*.json"))
        if path.name != "api.json"
    }
    for name, patch in profiles[profile].get("patches", {}).items():
        if name not in documents:
            raise SchemaError(name, "", f"profile {profile!r} patches a missing file")
        try:
            documents[name] = jsonpatch.apply_patch(documents[name], patch)
        except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as exc:
            raise SchemaError(name, "", f"profile {profile!r}: {exc}") from None
    for name, doc in documents.items():
        if doc.get("$id") != base + name:
            raise SchemaError(name, "/$id", f"expected {base + name!r}")
    try:
        registry = jsonschema_rs.Registry([(doc["$id"], doc) for doc in documents.values()])
    except (ValueError, jsonschema_rs.ReferencingError) as exc:
        raise SchemaError("schemas", "", str(exc)) from None
    parameters = manifest.get("pathParameters", {})
    operations = {
        op_id: _operation(op_id, raw, parameters) for op_id, raw in manifest["operations"].items()
    }
    for op in operations.values():
        for ref in (op.request, op.query, *op.responses.values()):
            if ref is not None and ref not in documents:
                raise SchemaError("api.json", f"/operations/{op.id}", f"names missing file {ref}")
    return SchemaBundle(root, profile, manifest, documents, operations, registry, base)
