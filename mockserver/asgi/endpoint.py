"""ApiEndpoint: the fixed order of checks every API operation goes through, and the journal."""

from __future__ import annotations

import asyncio
import time
import traceback
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from starlette.datastructures import URL
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Send

from mockserver.api.knowledge.folders import read_file
from mockserver.api.outcome import Call, Completion, Reply, Upload
from mockserver.asgi.body import read_form, read_json
from mockserver.asgi.commit import NUMBERED, Answer, commit_answer, declined, key_marks
from mockserver.asgi.exchange import Exchange, Replayable, Scope, credential, url_path
from mockserver.asgi.responses import error_response, failure_response, json_response
from mockserver.asgi.upload import close_uploads, read_upload
from mockserver.auth import Principal, authenticate, require_scopes
from mockserver.contract.check import Contract
from mockserver.errors import (
    ERROR_FORMATS,
    ApiError,
    FieldError,
    InjectedFault,
    InternalError,
    RateLimited,
    ValidationFailed,
    json_path,
)
from mockserver.faults.delivery import FAULT_HEADER, deliver, enact
from mockserver.journal import Usage
from mockserver.schemas import Operation, SchemaBundle
from mockserver.state import MockState
from mockserver.stores.base import StoreUnavailable
from mockserver.validation import check, strip_unknown

if TYPE_CHECKING:
    from mockserver.stores.replica import Replica

__all__ = [
    "RESPONDING",
    "ApiEndpoint",
    "Handler",
    "Renderer",
    "error_envelope",
    "journal_exchange",
    "journal_unrouted",
]

Handler = Callable[[MockState, Call], Reply | Completion]
Renderer = Callable[[MockState, Call, Completion], Response]

RESPONDING = "langdock_mock.responding"
"""Set in the scope when an endpoint begins to send: a failure after it can send no 500."""

_NO_PARAMS: Mapping[str, str] = MappingProxyType({})


def error_envelope(bundle: SchemaBundle, operation: Operation, status: int) -> str:
    """The envelope of an operation's error of ``status``: ``message``, or its own (upload's)."""
    # An operation's own envelope ("error" for upload) only where the status's declared schema
    # uses it: upload's 400/401 are {"error"}, its 403/413 the usual {"message"}.
    declared = operation.responses.get(status)
    key = ERROR_FORMATS[operation.envelope].key
    if declared is None or key in bundle.document(declared).get("properties", {}):
        return operation.envelope
    return "message"


def _fault_drawn(state: MockState, exchange: Exchange) -> bool:
    """Whether the request will draw a fault (a rule is in force, or its header is honoured)."""
    if state.faults:
        return True
    return state.settings.allow_fault_header and exchange.header(_FAULT_HEADER) is not None


_FAULT_HEADER = FAULT_HEADER.encode()


def _warning_header(warnings: tuple[FieldError, ...]) -> str:
    # Header values must be Latin-1; field names are escaped to ASCII by orjson-free JSON quoting.
    parts = []
    for w in warnings:
        # unicode_escape also escapes control characters, which no header value may carry.
        parts.append(f"unknown field {json_path(w.path)}".encode("unicode_escape").decode("ascii"))
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

    __slots__ = (
        "_contract",
        "_envelopes",
        "_exporting",
        "_guessing",
        "_matched",
        "_mutating",
        "handler",
        "operation",
        "params",
        "renderer",
        "replica",
        "state",
    )

    def __init__(
        self,
        operation: Operation,
        state: MockState,
        handler: Handler,
        renderer: Renderer | None = None,
        params: Mapping[str, str] = _NO_PARAMS,
    ) -> None:
        self.operation = operation
        self.state = state
        self.handler = handler
        self.renderer = renderer
        self.params = params  # path parameters the route fixes (its region)
        # Whether the router matches a parameter too (a model name): then it is in the scope.
        self._matched = len(params) < len(operation.parameters)
        self._contract = Contract(state.bundle) if state.settings.check_responses else None
        self._envelopes: dict[int, str] = {}  # error envelope by status, found once each
        # Under a shared store: the replica that syncs and commits each request.
        self.replica: Replica | None = None
        # Whether the operation can change resources (its changes go to the other replicas).
        self._mutating = not operation.rate_limited and operation.method != "GET"
        # A completion changes nothing but the limits: under a shared store it may be answered
        # first and numbered with its commit, in one script (and answered again if refused).
        self._guessing = operation.rate_limited
        # A usage export reads the served completions' usage sums, which only it syncs.
        self._exporting = operation.family == "export"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer the request (any failure, the mock's own included, is an answer), journaled.

        One coroutine from request to response: a completion is a few dozen microseconds, and
        each extra frame on the way was a measurable part of it.
        """
        began = time.perf_counter()
        replica = self.replica
        if replica is not None and self._guessing and not isinstance(receive, Replayable):
            receive = Replayable(receive)
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
        model: str | None = None
        stream: Completion | None = None
        usage: Usage | None = None
        lock = state.lock
        held = False
        watch = None
        guess = None  # a completion answered before the store numbers it (replica.Guess)
        call: Call | None = None
        completion: Completion | None = None
        # Ids and draws from the seed and the request's number only: the same on either store.
        if replica is None:
            number = state.next_request()
        else:
            number = scope.pop(NUMBERED, 0)  # answered again: numbered by the first answer
            if not number and self._guessing and not _fault_drawn(state, exchange):
                guess = replica.guess()
                number = guess[0]
            elif not number:
                try:
                    number = await replica.sync(usage=self._exporting)
                except StoreUnavailable as error:
                    await error_response(error)(scope, receive, send)
                    return
            state.draw_for(number)
        uploads: dict[str, Upload] = {}
        try:
            principal = authenticate(credential(exchange, operation), state.keys)
            require_scopes(principal, operation, state.aliases)
            if operation.request is None:
                body = dict(exchange.query)
            elif operation.streamed:
                body, uploads = await read_upload(exchange, settings.max_knowledge_bytes)
            elif operation.multipart:
                body = await read_form(exchange, settings.max_upload_bytes)
            else:
                body = await read_json(exchange, settings.max_body_bytes)
            # Faults after auth and parsing, so rules can match key, workspace and assistantId.
            # A guessed answer claims no fault: one drawn sends it to be answered again.
            claim = None if replica is None else declined if guess else replica.claim
            await enact(state, exchange, operation, principal, body, claim)
            schema = operation.body_schema
            if schema is not None:
                verdict = check(state.bundle, schema, body)
                warnings = verdict.warnings
                errors = verdict.errors + warnings if settings.strict else verdict.errors
                if errors:
                    raise ValidationFailed(errors)
            if uploads:  # read in a worker thread: the loop and the state lock stay free
                uploads = await asyncio.to_thread(_read_uploads, uploads)
            # The handler never sees unknown fields; the journal keeps the body as sent.
            params = self.params
            if self._matched:
                params = {**params, **scope.get("path_params", {})}
            call = Call.make(
                operation=operation,
                principal=principal,
                body=strip_unknown(body, warnings),
                params=params,
                uploads=uploads,
                base_url=_base_url(scope) if self._exporting else "",
            )
            if replica is not None and self._mutating:
                watch = replica.watch()
            # Held from the operation to its journal entry (one acquisition per request, and
            # no reader sees a change without its entry); nothing in between awaits.
            lock.acquire()
            held = True
            outcome = self.handler(state, call)
            if isinstance(outcome, Completion):
                assert self.renderer is not None, operation.id
                # A guessed completion is rendered once the store numbers it (with its ids).
                response = None if guess else self.renderer(state, call, outcome)
                completion = outcome
                model = outcome.model
                usage = Usage(
                    outcome.model or "",
                    outcome.prompt_tokens,
                    outcome.completion_tokens,
                    outcome.target_id,
                )
                if outcome.stream:
                    stream = outcome
            else:
                response = json_response(outcome.status, outcome.body, outcome.headers)
        except ApiError as error:
            envelope = self._envelopes.get(error.status)
            if envelope is None:
                envelope = self._envelopes[error.status] = error_envelope(
                    state.bundle, operation, error.status
                )
            response = error_response(error, envelope)
            fault = isinstance(error, InjectedFault)
            if isinstance(error, RateLimited):
                model = error.model
        except Exception:  # a bug in the mock: loud in the journal and in pytest, never a traceback
            failure = traceback.format_exc()
            response = failure_response(state, f"{operation.id}: {failure}")
        except BaseException:
            if held:
                lock.release()
            raise
        if uploads:
            close_uploads(uploads)
        if not held:  # refused before the handler (401, 400, a fault): locked for the entry only
            lock.acquire()
        try:
            if response is not None:
                response = self.finished(response, warnings, failure is None and not fault)
            if replica is None:
                assert response is not None  # without a shared store: rendered at once
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
                    response=response,
                    model=model,
                    elapsed=time.perf_counter() - began,
                    stream=stream,
                    usage=usage,
                )
        finally:
            lock.release()
        if replica is not None:  # the shared store's commit awaits: after the lock, not in it
            answer = Answer(
                exchange,
                principal,
                body,
                response,
                warnings,
                errors,
                failure,
                usage,
                call,
                completion,
            )
            committed = await commit_answer(self, replica, number, guess, watch, answer)
            if isinstance(committed, int):  # nothing committed: answered again, so numbered
                assert isinstance(receive, Replayable)
                scope[NUMBERED] = committed
                await self(scope, receive.again(), send)
                return
            response = committed
        assert response is not None  # rendered: at once, or by the commit under a guess
        scope[RESPONDING] = True
        if exchange.fault is None:
            await response(scope, receive, send)
        else:
            await deliver(exchange.fault.action, response, scope, receive, send)

    def envelope(self, status: int) -> str:
        """The operation's error envelope for ``status`` (found once per status)."""
        envelope = self._envelopes.get(status)
        if envelope is None:
            envelope = self._envelopes[status] = error_envelope(
                self.state.bundle, self.operation, status
            )
        return envelope

    def finished(
        self, response: Response, warnings: tuple[FieldError, ...], checked: bool = True
    ) -> Response:
        """``response`` with its warnings header, or (``checked``: not a failure or a fault of
        the mock's own) the 500 it becomes under --check-responses if it breaks the contract."""
        if self._contract is not None and checked:
            response = _self_checked(self.state, self._contract, self.operation, response)
        if warnings:
            response.headers["X-Mock-Warnings"] = _warning_header(warnings)
        return response


def journal_exchange(
    state: MockState,
    exchange: Exchange,
    operation: Operation | None,
    principal: Principal | None,
    body: Any,
    status: int,
    warnings: tuple[FieldError, ...],
    errors: tuple[FieldError, ...],
    failure: str | None,
    *,
    response: Response | None = None,
    model: str | None = None,
    elapsed: float = 0.0,
    stream: Completion | None = None,
) -> None:
    """Journal one API request and its answer in this process (the proxy's and replay's too)."""
    with state.lock:
        _journal(
            state,
            exchange,
            operation,
            principal,
            body,
            status,
            warnings,
            errors,
            failure,
            response=response,
            model=model,
            elapsed=elapsed,
            stream=stream,
        )


def _journal(  # under the state lock: the endpoint holds it from the operation to its entry
    state: MockState,
    exchange: Exchange,
    operation: Operation | None,
    principal: Principal | None,
    body: Any,
    status: int,
    warnings: tuple[FieldError, ...],
    errors: tuple[FieldError, ...],
    failure: str | None,
    *,
    response: Response | None,
    model: str | None,
    elapsed: float,
    stream: Completion | None,
    usage: Usage | None = None,
) -> None:
    scope = exchange.scope
    journal = state.journal
    masked, key_id = key_marks(journal, exchange, operation, principal)
    operation_id = operation.id if operation else None
    journal.record(
        time=state.clock.now(),
        method=exchange.method,
        path=url_path(scope),
        operation=operation_id,
        status=status,
        body=body,
        query=dict(exchange.query) if scope.get("query_string") else {},
        key=masked,
        key_id=key_id,
        workspace=principal.workspace if principal else None,
        warnings=warnings,
        errors=errors,
        error=failure,
        fault=exchange.fault is not None,
        model=model,
        elapsed=elapsed,
        headers=scope["headers"],
        response=response,
        stream=stream,
        usage=usage,
    )
    state.count(operation_id, status)


def _read_uploads(uploads: dict[str, Upload]) -> dict[str, Upload]:
    """Each upload with what its operation reads of its file (the one kind: knowledge files)."""
    return {name: upload._replace(read=read_file(upload)) for name, upload in uploads.items()}


def _base_url(scope: Scope) -> str:
    """scheme://host[:port] of the request, as the client addressed the server."""
    url = URL(scope=scope)
    return f"{url.scheme}://{url.netloc}"


def journal_unrouted(state: MockState, request: Request, response: Response) -> None:
    """Journal a request that matched no operation (404/405) with its answer."""
    exchange = Exchange(request.scope, request.receive)
    journal_exchange(
        state, exchange, None, None, None, response.status_code, (), (), None, response=response
    )
