"""ApiEndpoint: the fixed order of checks every API operation goes through, and the journal."""

from __future__ import annotations

import re
import traceback
from collections.abc import Callable
from typing import Any

from starlette.datastructures import URL
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Send

from mockserver.api.outcome import Call, Completion, Reply
from mockserver.asgi.body import read_form, read_json
from mockserver.asgi.exchange import Exchange, Scope
from mockserver.asgi.responses import error_response, failure_response, json_response
from mockserver.auth import Principal, authenticate, require_scopes
from mockserver.contract.check import Contract
from mockserver.errors import (
    ApiError,
    FieldError,
    InjectedFault,
    InternalError,
    ValidationFailed,
)
from mockserver.faults.delivery import deliver, enact
from mockserver.journal import key_marks
from mockserver.schemas import Operation, SchemaBundle
from mockserver.state import MockState
from mockserver.validation import check, strip_unknown

__all__ = ["RESPONDING", "ApiEndpoint", "Handler", "Renderer", "journal_unrouted"]

Handler = Callable[[MockState, Call], Reply | Completion]
Renderer = Callable[[MockState, Call, Completion], Response]

RESPONDING = "langdock_mock.responding"
"""Set in the scope when an endpoint begins to send: a failure after it can send no 500."""

# Characters Starlette escapes (or urlsplit drops) when it builds request.url.
_ODD_PATH = re.compile(r"[?#\\\t\r\n]")


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
    message = f"mock contract violation: {problem}"
    return failure_response(state, f"{operation.id}: {message}", InternalError(message))


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
            call = Call(
                operation=operation, principal=principal, body=strip_unknown(body, warnings)
            )
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
            response = failure_response(state, f"{operation.id}: {failure}")
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
        scope[RESPONDING] = True
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
        state.journal.record(
            time=state.clock.now(),
            method=exchange.method,
            path=path,
            operation=operation_id,
            status=status,
            body=body,
            query=query,
            key=masked,
            key_id=key_id,
            workspace=workspace,
            warnings=warnings,
            errors=errors,
            error=failure,
            fault=exchange.fault is not None,
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
