"""ApiEndpoint: the fixed order of checks every API operation goes through, and the journal."""

from __future__ import annotations

import functools
import mimetypes
import re
import traceback
from collections.abc import AsyncGenerator, Callable, Mapping
from typing import Any

import orjson
from starlette.datastructures import URL, Headers, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Send

from .auth import Principal, authenticate, require_scopes
from .contract import Contract
from .errors import (
    ApiError,
    BadRequest,
    FieldError,
    InjectedFault,
    ValidationFailed,
    render,
)
from .exchange import Exchange, Scope
from .faultware import deliver, enact
from .journal import key_marks
from .outcome import Call, Completion, Reply
from .schemas import Operation, SchemaBundle
from .state import MockState
from .validation import check, strip_unknown

__all__ = [
    "ApiEndpoint",
    "Handler",
    "JsonResponse",
    "Renderer",
    "error_response",
    "journal_unrouted",
    "json_response",
    "read_form",
    "read_json",
]

Handler = Callable[[MockState, Call], Reply | Completion]
Renderer = Callable[[MockState, Call, Completion], Response]

_JSON_TYPES = ("application/json", "text/json")
# Characters Starlette escapes (or urlsplit drops) when it builds request.url.
_ODD_PATH = re.compile(r"[?#\\\t\r\n]")


class JsonResponse(Response):
    """Starlette's ``Response`` for JSON already encoded, minus the generality every request paid.

    Its headers are built directly (no media-type or charset rules to apply) and it is sent as
    the two ASGI messages, nothing else (no background task, no WebSocket prefix).
    """

    media_type = "application/json"

    def __init__(self, status: int, content: bytes, headers: Mapping[str, str] | None = None):
        self.status_code = status
        self.body = content
        self.background = None
        raw = [(b"content-length", str(len(content)).encode()), _JSON_CONTENT_TYPE]
        if headers:
            raw += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
        self.raw_headers = raw

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Send the start and the body."""
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        await send({"type": "http.response.body", "body": self.body})


_JSON_CONTENT_TYPE = (b"content-type", b"application/json")


def json_response(status: int, body: Any, headers: Mapping[str, str] | None = None) -> Response:
    """A JSON response, encoded once with orjson."""
    return JsonResponse(status, orjson.dumps(body), headers)


def error_response(error: ApiError, envelope: str = "message") -> Response:
    """The vendor-shaped response of an emulated error (the one place errors meet the wire)."""
    status, body = render(error, envelope)
    return json_response(status, body, error.headers)


@functools.lru_cache(maxsize=64)  # a client sends the same type every time
def _content_type_ok(value: str | None) -> bool:
    if not value:
        return True  # clients that send no type still send JSON; the real API parses it
    media = value.split(";", 1)[0].strip().lower()
    return media in _JSON_TYPES or media.endswith("+json")


async def read_json(exchange: Exchange, limit: int) -> dict[str, Any]:
    """The body as a JSON object, or a 400/413 that says what is wrong with it."""
    raw = await exchange.body(limit)
    if not _content_type_ok(exchange.header(b"content-type")):
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


async def read_form(exchange: Exchange, limit: int) -> dict[str, Any]:
    """A multipart form as JSON (413 past ``limit``): a file is ``{name, mimeType, sizeInBytes}``.

    Not multipart, or no file chosen (a browser's empty part), reads as no field at all: the
    handler then answers as the vendor does. File contents are not kept.
    """
    raw = await exchange.body(limit)
    media = (exchange.header(b"content-type") or "").split(";", 1)[0].strip().lower()
    if media != "multipart/form-data":
        return {}
    try:
        headers = Headers(scope=exchange.scope)
        form = await MultiPartParser(headers, _once(raw), max_files=8).parse()
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


class ApiEndpoint:
    """One API operation as a raw ASGI app: 401 → 403 → 400 → handler (404/409/429/2xx), journaled.

    Called straight from the app's exact-path table on the hot path (and through Starlette's
    router otherwise), it reads the request off the scope: no ``Request``, no middleware.
    """

    __slots__ = ("_contract", "_envelopes", "handler", "operation", "renderer", "state")

    def __init__(
        self,
        operation: Operation,
        state: MockState,
        handler: Handler,
        renderer: Renderer | None = None,
    ) -> None:
        self.operation = operation
        self.state = state
        self.handler = handler
        self.renderer = renderer
        self._contract = Contract(state.bundle) if state.settings.check_responses else None
        self._envelopes: dict[int, str] = {}  # error envelope by status, found once each

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer the request (any failure, the mock's own included, is an answer), journaled.

        One coroutine from request to response: a completion is a few dozen microseconds, and
        each extra frame on the way was a measurable part of it.
        """
        exchange = Exchange(scope, receive)
        state = self.state
        settings = state.settings
        operation = self.operation
        principal: Principal | None = None
        body: Any = None
        warnings: tuple[FieldError, ...] = ()
        errors: tuple[FieldError, ...] = ()
        failure: str | None = None
        fault = False
        try:
            principal = authenticate(exchange.header(b"authorization"), state.keys)
            require_scopes(principal, operation, state.aliases)
            if operation.request is None:
                body = dict(exchange.query)
            elif operation.multipart:
                body = await read_form(exchange, settings.max_upload_bytes)
            else:
                body = await read_json(exchange, settings.max_body_bytes)
            # Faults after auth and parsing, so rules can match key, workspace and assistantId.
            await enact(state, exchange, operation, principal, body)
            schema = operation.body_schema
            if schema is not None:
                verdict = check(state.bundle, schema, body)
                warnings = verdict.warnings
                errors = verdict.errors + warnings if settings.strict else verdict.errors
                if errors:
                    raise ValidationFailed(errors)
            # The handler never sees unknown fields; the journal keeps the body as sent.
            call = Call(operation, principal, strip_unknown(body, warnings))
            outcome = self.handler(state, call)
            if isinstance(outcome, Completion):
                assert self.renderer is not None, operation.id
                response = self.renderer(state, call, outcome)
            else:
                response = json_response(outcome.status, outcome.body, outcome.headers)
        except ApiError as error:
            envelope = self._envelopes.get(error.status)
            if envelope is None:
                envelope = self._envelopes[error.status] = _envelope(
                    state.bundle, operation, error.status
                )
            response = error_response(error, envelope)
            fault = isinstance(error, InjectedFault)
        except Exception:  # a bug in the mock: loud in the journal and in pytest, never a traceback
            failure = traceback.format_exc()
            state.record_failure(f"{operation.id}: {failure}")
            response = json_response(
                500, {"message": "Internal Server Error (mock_internal_error)"}
            )
        if self._contract is not None and failure is None and not fault:
            response = _self_checked(state, self._contract, operation, response)
        if warnings:
            response.headers["X-Mock-Warnings"] = _warning_header(warnings)
        _journal(
            state,
            exchange,
            operation,
            principal,
            body,
            response.status_code,
            warnings,
            errors,
            failure,
        )
        if exchange.fault is None:
            await response(scope, receive, send)
        else:
            await deliver(exchange.fault.action, response, scope, receive, send)


def _journal(
    state: MockState,
    exchange: Exchange,
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
        key = (exchange.header(b"authorization") or "").partition(" ")[2].strip() or None
    scope = exchange.scope
    masked, key_id = key_marks(key) if key else (None, None)
    operation_id = operation.id if operation else None
    path = _url_path(scope)
    query = dict(exchange.query) if scope.get("query_string") else {}
    workspace = principal.workspace if principal else None
    with state.lock:
        # JournalEntry's fields after seq, in order.
        state.journal.record(
            state.clock.now(),
            exchange.method,
            path,
            operation_id,
            status,
            body,
            query,
            masked,
            key_id,
            workspace,
            warnings,
            errors,
            failure,
            exchange.fault is not None,
        )
        state.count(operation_id, status)


def _url_path(scope: Scope) -> str:
    """``request.url.path`` without building the URL (a twentieth of a completion's cost)."""
    path: str = scope["path"]
    return URL(scope=scope).path if _ODD_PATH.search(path) else path


def journal_unrouted(state: MockState, request: Request, status: int) -> None:
    """Journal a request that matched no operation (404/405)."""
    exchange = Exchange(request.scope, request.receive)
    _journal(state, exchange, None, None, None, status, (), (), None)
