"""make_endpoint: the fixed order of checks every API operation goes through, and the journal."""

from __future__ import annotations

import mimetypes
import re
import traceback
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any

import orjson
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from .auth import Principal, authenticate, mask, require_scopes
from .contract import Contract
from .errors import (
    ApiError,
    BadRequest,
    FieldError,
    InjectedFault,
    PayloadTooLarge,
    ValidationFailed,
    render,
)
from .faultware import SCOPE_KEY, enact
from .journal import JournalEntry, fingerprint
from .outcome import Call, Completion, Reply
from .schemas import Operation, SchemaBundle
from .state import MockState
from .validation import check, strip_unknown

__all__ = [
    "Handler",
    "Renderer",
    "error_response",
    "json_response",
    "make_endpoint",
    "read_form",
    "read_json",
]

Handler = Callable[[MockState, Call], Reply | Completion]
Renderer = Callable[[MockState, Call, Completion], Response]
Endpoint = Callable[[Request], Awaitable[Response]]

_JSON_TYPES = ("application/json", "text/json")
# Characters Starlette escapes (or urlsplit drops) when it builds request.url.
_ODD_PATH = re.compile(r"[?#\\\t\r\n]")


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    """A JSON response, encoded once with orjson."""
    return Response(orjson.dumps(body), status, headers, media_type="application/json")


def error_response(error: ApiError, envelope: str = "message") -> Response:
    """The vendor-shaped response of an emulated error (the one place errors meet the wire)."""
    status, body = render(error, envelope)
    return json_response(status, body, error.headers)


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body, refused with 413 as soon as it passes ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"Request body exceeds the limit of {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(f"Request body exceeds the limit of {limit} bytes")
            chunks.append(chunk)
    except ClientDisconnect:
        # The client's problem, not a bug of the mock: journaled as a 400 nobody will read.
        raise BadRequest("Client disconnected before sending the whole body") from None
    return b"".join(chunks)


def _content_type_ok(value: str | None) -> bool:
    if not value:
        return True  # clients that send no type still send JSON; the real API parses it
    media = value.split(";", 1)[0].strip().lower()
    return media in _JSON_TYPES or media.endswith("+json")


async def read_json(request: Request, limit: int) -> dict[str, Any]:
    """The body as a JSON object, or a 400/413 that says what is wrong with it."""
    raw = await read_body(request, limit)
    if not _content_type_ok(request.headers.get("content-type")):
        raise BadRequest("Content-Type must be application/json")
    if not raw.strip():
        raise BadRequest("Request body is empty; expected a JSON object")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            raise BadRequest("Request body is not valid UTF-8") from None
        reason = "nested too deeply" if "depth" in str(exc).lower() else str(exc)
        raise BadRequest(f"Request body is not valid JSON: {reason}") from None
    if not isinstance(body, dict):
        raise BadRequest("Request body must be a JSON object")
    return body


async def _once(raw: bytes) -> AsyncGenerator[bytes, None]:
    yield raw


async def read_form(request: Request, limit: int) -> dict[str, Any]:
    """A multipart form as JSON (413 past ``limit``): a file is ``{name, mimeType, sizeInBytes}``.

    Not multipart, or no file chosen (a browser's empty part), reads as no field at all: the
    handler then answers as the vendor does. File contents are not kept.
    """
    raw = await read_body(request, limit)
    media = (request.headers.get("content-type") or "").split(";", 1)[0].strip().lower()
    if media != "multipart/form-data":
        return {}
    try:
        form = await MultiPartParser(request.headers, _once(raw), max_files=8).parse()
    except MultiPartException as exc:
        raise BadRequest(f"Malformed multipart body: {exc.message}") from None
    fields: dict[str, Any] = {}
    try:
        for name, value in form.multi_items():
            if name in fields:
                continue
            if not isinstance(value, UploadFile):
                fields[name] = value
            elif value.filename or value.size:
                filename = value.filename or "file"
                guessed = mimetypes.guess_type(filename)[0]
                fields[name] = {
                    "name": filename,
                    "mimeType": value.content_type or guessed or "application/octet-stream",
                    "sizeInBytes": value.size or 0,
                }
    finally:
        await form.close()
    return fields


def _envelope(bundle: SchemaBundle, operation: Operation, status: int) -> str:
    # An operation's own envelope ("error" for upload) only where the status's declared schema
    # uses it: upload's 400/401 are {"error"}, its 403/413 the usual {"message"}.
    declared = operation.responses.get(status)
    if declared is None or operation.envelope in bundle.document(declared).get("properties", {}):
        return operation.envelope
    return "message"


def _warning_header(warnings: tuple[FieldError, ...]) -> str:
    # Header values must be Latin-1; field names are escaped to ASCII by orjson-free JSON quoting.
    parts = []
    for w in warnings:
        dotted = "".join(f"[{t}]" if isinstance(t, int) else f".{t}" for t in w.path)
        # unicode_escape also escapes control characters, which no header value may carry.
        parts.append(f"unknown field ${dotted}".encode("unicode_escape").decode("ascii"))
    return "; ".join(parts)


def _self_checked(
    state: MockState, contract: Contract, operation: Operation, response: Response
) -> Response:
    # --check-responses: a response that breaks the contract is a bug of the mock, never silent.
    problem = contract.check_sent(
        operation,
        response.status_code,
        response.headers.get("content-type"),
        getattr(response, "body", None),  # a streaming response has none
    )
    if problem is None:
        return response
    state.record_failure(f"{operation.id}: mock contract violation: {problem}")
    return json_response(500, {"message": f"mock contract violation: {problem}"})


def make_endpoint(
    operation: Operation, state: MockState, handler: Handler, renderer: Renderer | None = None
) -> Endpoint:
    """An endpoint running 401 → 403 → 400 → handler (404/409/429/2xx), journaled."""
    settings = state.settings
    bundle = state.bundle
    schema = operation.body_schema
    aliases = state.aliases
    is_query = operation.request is None
    contract = Contract(bundle) if settings.check_responses else None

    async def endpoint(request: Request) -> Response:
        principal: Principal | None = None
        body: Any = None
        warnings: tuple[FieldError, ...] = ()
        errors: tuple[FieldError, ...] = ()
        failure: str | None = None
        fault = False
        try:
            principal = authenticate(request.headers.get("authorization"), state.keys)
            require_scopes(principal, operation, aliases)
            if is_query:
                body = dict(request.query_params)
            elif operation.multipart:
                body = await read_form(request, settings.max_upload_bytes)
            else:
                body = await read_json(request, settings.max_body_bytes)
            # Faults after auth and parsing, so rules can match key, workspace and assistantId.
            await enact(state, request.scope, operation, principal, body)
            if schema is not None:
                verdict = check(bundle, schema, body)
                warnings = verdict.warnings
                errors = verdict.errors + warnings if settings.strict else verdict.errors
                if errors:
                    raise ValidationFailed(errors)
            # The handler never sees unknown fields; the journal keeps the body as sent.
            call = Call(operation, principal, strip_unknown(body, warnings))
            outcome = handler(state, call)
            if isinstance(outcome, Completion):
                assert renderer is not None, operation.id
                response = renderer(state, call, outcome)
            else:
                response = json_response(outcome.status, outcome.body, outcome.headers)
        except ApiError as error:
            response = error_response(error, _envelope(bundle, operation, error.status))
            fault = isinstance(error, InjectedFault)
        except Exception:  # a bug in the mock: loud in the journal and in pytest, never a traceback
            failure = traceback.format_exc()
            state.record_failure(f"{operation.id}: {failure}")
            response = json_response(
                500, {"message": "Internal Server Error (mock_internal_error)"}
            )
        if contract is not None and failure is None and not fault:
            response = _self_checked(state, contract, operation, response)
        if warnings:
            response.headers["X-Mock-Warnings"] = _warning_header(warnings)
        _journal(
            state,
            request,
            operation,
            principal,
            body,
            response.status_code,
            warnings,
            errors,
            failure,
        )
        return response

    return endpoint


def _journal(
    state: MockState,
    request: Request,
    operation: Operation | None,
    principal: Principal | None,
    body: Any,
    status: int,
    warnings: tuple[FieldError, ...],
    errors: tuple[FieldError, ...],
    failure: str | None,
) -> None:
    if principal is not None:
        key: str | None = principal.key
    else:  # refused before a key was accepted: journal whatever token was sent, masked
        key = request.headers.get("authorization", "").partition(" ")[2].strip() or None
    with state.lock:
        journal = state.journal
        journal.append(
            JournalEntry(
                seq=journal.next_seq(),
                time=state.clock.now(),
                method=request.method,
                path=_url_path(request),
                operation=operation.id if operation else None,
                status=status,
                body=body,
                query=dict(request.query_params) if request.scope["query_string"] else {},
                key=mask(key) if key else None,
                key_id=fingerprint(key) if key else None,
                workspace=principal.workspace if principal else None,
                warnings=tuple(w.message for w in warnings) if warnings else (),
                errors=tuple(e.as_json() for e in errors) if errors else (),
                error=failure,
                fault=getattr(request.scope.get(SCOPE_KEY), "fault", None) is not None,
            )
        )
        state.count(operation.id if operation else None, status)


def _url_path(request: Request) -> str:
    """``request.url.path`` without building the URL (a twentieth of a completion's cost)."""
    path: str = request.scope["path"]
    return request.url.path if _ODD_PATH.search(path) else path


def journal_unrouted(state: MockState, request: Request, status: int) -> None:
    """Journal a request that matched no operation (404/405)."""
    _journal(state, request, None, None, None, status, (), (), None)
