"""build_openapi: an OpenAPI 3.1 document generated from the schema bundle (no second copy)."""

from __future__ import annotations

import http
from collections.abc import Iterator
from typing import Any
from urllib.parse import urldefrag, urljoin

from mockserver.errors import SchemaError
from mockserver.schemas import Operation, SchemaBundle

__all__ = ["build_openapi", "component_key"]

JSON = Any
COMPONENTS = "#/components/schemas/"

_ERROR_TEXT = {
    400: "Invalid request: a string message (unreadable body) or the list of violated constraints",
    401: "Missing, malformed or unknown API key",
    403: "The key lacks the operation's scope, or may not act on this resource",
    404: "Unknown id, model, action or attachment (or not shared with the key)",
    409: "The request conflicts with the resource's state",
    413: "Request body over the size limit",
    429: "Rate limit of the workspace and model exceeded",
}
_WARNINGS_HEADER = {
    "description": (
        "langdock-mock only: request fields the contract does not know (the real API drops "
        "them silently)"
    ),
    "required": False,
    "schema": {"type": "string"},
}
_RETRY_HEADER = {
    "description": "Seconds to wait; only with --rate-limit-headers (the real API sends none)",
    "required": False,
    "schema": {"type": "string", "pattern": "^[0-9]+$"},
}


def component_key(name: str) -> str:
    """The components.schemas key of a schema file: ``requests/x.json`` -> ``requests.x``."""
    return name.removesuffix(".json").replace("/", ".")


def _rewrite(node: JSON, uri: str, bundle: SchemaBundle) -> JSON:
    """A copy of ``node`` whose $refs point into components.schemas instead of other files."""
    if isinstance(node, list):
        return [_rewrite(item, uri, bundle) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in ("$id", "$schema"):
            continue  # an $id would rebase every rewritten $ref below it
        if key == "$ref" and isinstance(value, str):
            out[key] = _ref(urljoin(uri, value), bundle, uri)
        elif key in ("properties", "$defs", "patternProperties") and isinstance(value, dict):
            out[key] = {name: _rewrite(sub, uri, bundle) for name, sub in value.items()}
        else:
            out[key] = _rewrite(value, uri, bundle)
    return out


def _ref(target: str, bundle: SchemaBundle, source: str) -> str:
    document, fragment = urldefrag(target)
    name = document.removeprefix(bundle.base)
    if document == name or name not in bundle.documents:
        raise SchemaError(
            source.removeprefix(bundle.base), "", f"$ref outside the bundle: {target}"
        )
    if fragment and not fragment.startswith("/"):
        raise SchemaError(name, "", f"only JSON-pointer $refs are supported: {target}")
    return COMPONENTS + component_key(name) + fragment


def _schema_ref(name: str) -> dict[str, str]:
    return {"$ref": COMPONENTS + component_key(name)}


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def _parameters(bundle: SchemaBundle, name: str) -> list[dict[str, Any]]:
    document = bundle.document(name)
    required = set(document.get("required", ()))
    return [
        {
            "name": param,
            "in": "query",
            "required": param in required,
            "schema": {"$ref": f"{COMPONENTS}{component_key(name)}/properties/{_escape(param)}"},
        }
        for param in document.get("properties", {})
    ]


def _path_parameter_schema(declared: dict[str, Any]) -> dict[str, Any]:
    # folderId's "not search" says that /knowledge/search is the literal route, not a folder.
    # OpenAPI matches concrete paths before templated ones, so the document needs no "not":
    # with it, a client generator would send PATCH /knowledge/search as a "folder" and meet
    # the literal path's 405 (Allow: POST), an answer of another path than the operation's.
    return {key: value for key, value in declared.items() if key != "not"}


def _path_parameters(bundle: SchemaBundle, op: Operation) -> list[dict[str, Any]]:
    # api.json's pathParameters give each {name} of a path its schema (regions: an enum;
    # folderId: an id pattern).
    declared = bundle.manifest.get("pathParameters", {})
    return [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": _path_parameter_schema(declared.get(name, {"type": "string"})),
        }
        for name in op.parameters
    ]


def _streams(bundle: SchemaBundle, op: Operation) -> bool:
    # A body's stream: true, or a query option (Google's alt=sse) asks for the event stream.
    if op.request is None:
        return False
    return "stream" in bundle.document(op.request).get("properties", {}) or bool(op.query_options)


def _event_schema(bundle: SchemaBundle, op: Operation) -> dict[str, Any]:
    """One server-sent event; its data is JSON of the manifest's ``stream`` schema, or [DONE]."""
    data: dict[str, Any] = {"type": "string"}
    chunk = bundle.manifest["operations"].get(op.id, {}).get("stream")
    if chunk is not None:
        bundle.document(chunk)  # a SchemaError if the manifest names a missing file
        data = {
            "anyOf": [
                {"const": "[DONE]"},
                {
                    "type": "string",
                    "contentMediaType": "application/json",
                    "contentSchema": _schema_ref(chunk),
                },
            ]
        }
    return {
        "type": "object",
        "properties": {
            "data": data,
            "event": {"type": "string"},
            "id": {"type": "string"},
            "retry": {"type": "integer"},
        },
        "required": ["data"],
    }


def _response(bundle: SchemaBundle, op: Operation, status: int, name: str) -> dict[str, Any]:
    title = bundle.document(name).get("title", "")
    description = _ERROR_TEXT.get(status) if status >= 400 else title
    content: dict[str, Any] = {"application/json": {"schema": _schema_ref(name)}}
    if status == 200 and _streams(bundle, op):
        content["text/event-stream"] = {"schema": _event_schema(bundle, op)}
    response: dict[str, Any] = {
        "description": description or http.HTTPStatus(status).phrase,
        "content": content,
    }
    if status < 300 and op.body_schema is not None:
        response["headers"] = {"X-Mock-Warnings": _WARNINGS_HEADER}
    elif status == 429:
        response["headers"] = {"Retry-After": _RETRY_HEADER}
    return response


def _ids(bundle: SchemaBundle, op: Operation, name: str) -> Iterator[tuple[str, str]]:
    """(field, pointer) of each id a response carries: ``assistant.id`` or ``attachmentId``.

    An operation's ``ids`` in the manifest name the others, by the field that takes them: a
    knowledge file's ``result.id`` is the ``attachmentId`` of the folder's other operations.
    """
    yield from bundle.manifest["operations"].get(op.id, {}).get("ids", {}).items()
    for key, sub in bundle.dereferenced(name).get("properties", {}).items():
        if isinstance(sub, dict) and "id" in sub.get("properties", {}):
            yield f"{key}Id", f"/{_escape(key)}/id"
        elif key.endswith("Id") and len(key) > 2:
            yield key, f"/{_escape(key)}"


def _consumes(bundle: SchemaBundle, op: Operation, field: str) -> str | None:
    """Where ``op`` takes ``field``: 'path', 'query', 'body' or None."""
    if field in op.parameters:
        return "path"
    if op.query is not None and field in bundle.document(op.query).get("properties", {}):
        return "query"
    if op.request is not None and field in bundle.document(op.request).get("properties", {}):
        return "body"
    return None


def _links(bundle: SchemaBundle, op: Operation, name: str) -> dict[str, Any]:
    """OpenAPI links from a response carrying an id to every other operation taking that id."""
    links: dict[str, Any] = {}
    for field, pointer in _ids(bundle, op, name):
        expression = f"$response.body#{pointer}"
        for target in bundle.operations.values():
            # Within a family: a knowledge file's attachmentId is no /attachment/v1 one.
            same = target.id != op.id and target.family == op.family
            where = _consumes(bundle, target, field) if same else None
            if where is None:
                continue
            # The path parameters both share go along: the file's folder is the request's.
            parameters = {p: f"$request.path.{p}" for p in op.parameters if p in target.parameters}
            link: dict[str, Any] = {"operationId": target.id}
            if where == "body":
                link["requestBody"] = {field: expression}
            else:
                parameters[field] = expression
            if parameters:
                link["parameters"] = parameters
            links[target.id] = link
    return links


def _request_body(bundle: SchemaBundle, op: Operation, name: str) -> dict[str, Any]:
    if not op.multipart:
        return {"required": True, "content": {"application/json": {"schema": _schema_ref(name)}}}
    # The schema file describes the form as the server reads it (a file becomes its metadata);
    # on the wire each part annotated with contentMediaType is a required file (bytes).
    files = {
        key: {"type": "string", "contentMediaType": sub["contentMediaType"]}
        for key, sub in bundle.document(name).get("properties", {}).items()
        if isinstance(sub, dict) and "contentMediaType" in sub
    }
    schema = {**_schema_ref(name), "properties": files, "required": sorted(files)}
    return {"required": True, "content": {"multipart/form-data": {"schema": schema}}}


def _scopes(bundle: SchemaBundle, op: Operation) -> list[str]:
    if op.scope is None:
        return []
    aliases = bundle.manifest.get("scopeAliases", {})
    return [op.scope, *sorted(old for old, new in aliases.items() if new == op.scope)]


def _description(bundle: SchemaBundle, op: Operation) -> str:
    scopes = _scopes(bundle, op)
    lines = [op.summary + "."]
    if scopes:
        lines.append(
            f"Requires scope {scopes[0]}" + "".join(f" (or {s})" for s in scopes[1:]) + "."
        )
    else:
        lines.append("Any valid key; no scope needed.")
    if op.admin:
        lines.append("Admin keys only.")
    if op.rate_limited:
        lines.append("Counts against the workspace's requests and tokens per minute for the model.")
    return " ".join(lines)


def _operation(bundle: SchemaBundle, op: Operation) -> dict[str, Any]:
    scopes = _scopes(bundle, op)
    spec: dict[str, Any] = {
        "operationId": op.id,
        "summary": op.summary,
        "description": _description(bundle, op),
        "tags": [op.family],
        "security": [{"bearer": scopes[:1]}],
        "x-scopes": scopes,
    }
    parameters = _path_parameters(bundle, op)
    if op.query is not None:
        parameters += _parameters(bundle, op.query)
    declared = bundle.manifest.get("queryParameters", {})
    parameters += [
        {"name": name, "in": "query", "required": False, "schema": declared[name]}
        for name in op.query_options
    ]
    if parameters:
        spec["parameters"] = parameters
    if op.request is not None:
        spec["requestBody"] = _request_body(bundle, op, op.request)
    responses: dict[str, Any] = {}
    for status, name in sorted(op.responses.items()):
        response = _response(bundle, op, status, name)
        links = _links(bundle, op, name) if status < 300 else {}
        if links:
            response["links"] = links
        responses[str(status)] = response
    spec["responses"] = responses
    return spec


def _components(bundle: SchemaBundle, names: Iterator[str]) -> dict[str, Any]:
    return {
        component_key(name): _rewrite(bundle.document(name), bundle.uri(name), bundle)
        for name in names
    }


def _api_files(bundle: SchemaBundle) -> Iterator[str]:
    """Every schema file of the vendor API (admin/ describes the mock's own control API)."""
    return (name for name in sorted(bundle.documents) if not name.startswith("admin/"))


def build_openapi(bundle: SchemaBundle) -> dict[str, Any]:
    """The OpenAPI 3.1 document of every operation in the manifest, for the bundle's profile."""
    info = bundle.manifest.get("info", {})
    scopes = bundle.manifest.get("scopes", {})
    aliases = bundle.manifest.get("scopeAliases", {})
    scope_text = "; ".join(f"{name}: {text}" for name, text in scopes.items())
    alias_text = "; ".join(f"{old} is accepted for {new}" for old, new in aliases.items())
    # Components first: a $ref the document cannot hold is a SchemaError before links need them.
    components = _components(bundle, _api_files(bundle))
    paths: dict[str, dict[str, Any]] = {}
    for op in bundle.operations.values():
        paths.setdefault(op.path, {})[op.method.lower()] = _operation(bundle, op)
    prefixes: list[str] = bundle.manifest.get("prefixes", [""])
    return {
        "openapi": "3.1.0",
        "info": {
            "title": info.get("title", "langdock-mock"),
            "version": info.get("version", "0"),
            "description": (
                f"Generated by langdock-mock from schemas/ (profile {bundle.profile}). "
                "Every path is also served under each server prefix."
            ),
        },
        "servers": [
            {"url": prefix or "/", "description": "dedicated deployments" if prefix else "cloud"}
            for prefix in prefixes
        ],
        "tags": sorted(
            ({"name": family} for family in {op.family for op in bundle.operations.values()}),
            key=lambda tag: tag["name"],
        ),
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": f"Authorization: Bearer <API key>. Scopes: {scope_text}. "
                    + alias_text,
                }
            },
        },
        "security": [{"bearer": []}],
        "x-profile": bundle.profile,
    }
