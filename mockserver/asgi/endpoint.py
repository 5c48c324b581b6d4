"""ApiEndpoint: the fixed order of checks every API operation goes through, and the journal."""

from __future__ import annotations

import contextlib
import re
import time
import traceback
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import orjson
from starlette.datastructures import URL
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Send

from mockserver.api.outcome import Call, Completion, Reply, Upload
from mockserver.asgi.body import read_form, read_json
from mockserver.asgi.exchange import Exchange, Scope
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
from mockserver.faults.delivery import deliver, enact
from mockserver.journal import JournalEntry, RequestJournal, Usage
from mockserver.ratelimit import Decision
from mockserver.schemas import Operation, SchemaBundle
from mockserver.state import MockState
from mockserver.stores.base import StoreUnavailable, coverage_key
from mockserver.stores.replica import usage_op
from mockserver.validation import check, strip_unknown

if TYPE_CHECKING:
    from mockserver.stores.replica import Replica

__all__ = [
    "RESPONDING",
    "ApiEndpoint",
    "Handler",
    "Renderer",
    "commit_unrouted",
    "error_envelope",
    "journal_exchange",
    "journal_unrouted",
]

Handler = Callable[[MockState, Call], Reply | Completion]
Renderer = Callable[[MockState, Call, Completion], Response]

RESPONDING = "langdock_mock.responding"
"""Set in the scope when an endpoint begins to send: a failure after it can send no 500."""

_NO_PARAMS: Mapping[str, str] = MappingProxyType({})

# Characters Starlette escapes (or urlsplit drops) when it builds request.url.
_ODD_PATH = re.compile(r"[?#\\\t\r\n]")


def error_envelope(bundle: SchemaBundle, operation: Operation, status: int) -> str:
    """The envelope of an operation's error of ``status``: ``message``, or its own (upload's)."""
    # An operation's own envelope ("error" for upload) only where the status's declared schema
    # uses it: upload's 400/401 are {"error"}, its 403/413 the usual {"message"}.
    declared = operation.responses.get(status)
    key = ERROR_FORMATS[operation.envelope].key
    if declared is None or key in bundle.document(declared).get("properties", {}):
        return operation.envelope
    return "message"


def _credential(exchange: Exchange, operation: Operation | None) -> str | None:
    """The Authorization header, else a provider's own key header (x-api-key) as a Bearer key."""
    header = exchange.header(b"authorization")
    if header is None and operation is not None:
        for name in operation.key_headers:
            key = exchange.header(name)
            if key is not None:
                return f"Bearer {key}"
    return header


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

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer the request (any failure, the mock's own included, is an answer), journaled.

        One coroutine from request to response: a completion is a few dozen microseconds, and
        each extra frame on the way was a measurable part of it.
        """
        began = time.perf_counter()
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
        replica = self.replica
        watch = None
        # Ids and draws from the seed and the request's number only: the same on either store.
        if replica is None:
            number = state.next_request()
        else:
            try:
                number = await replica.sync()
            except StoreUnavailable as error:
                await error_response(error)(scope, receive, send)
                return
            state.draw_for(number)
        uploads: dict[str, Upload] = {}
        try:
            principal = authenticate(_credential(exchange, operation), state.keys)
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
            await enact(
                state, exchange, operation, principal, body, replica.claim if replica else None
            )
            schema = operation.body_schema
            if schema is not None:
                verdict = check(state.bundle, schema, body)
                warnings = verdict.warnings
                errors = verdict.errors + warnings if settings.strict else verdict.errors
                if errors:
                    raise ValidationFailed(errors)
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
                base_url=_base_url(scope) if operation.family == "export" else "",
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
                response = self.renderer(state, call, outcome)
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
            if self._contract is not None and failure is None and not fault:
                response = _self_checked(state, self._contract, operation, response)
            if warnings:
                response.headers["X-Mock-Warnings"] = _warning_header(warnings)
            if replica is None:
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
            committed = await self._commit(
                replica,
                watch,
                exchange,
                principal,
                body,
                response,
                warnings,
                errors,
                failure,
                usage,
            )
            while committed is None:  # its scripted reply went to another replica's request
                committed = await self._again(replica, number, call, exchange, principal, body)
            response = committed
        scope[RESPONDING] = True
        if exchange.fault is None:
            await response(scope, receive, send)
        else:
            await deliver(exchange.fault.action, response, scope, receive, send)

    async def _commit(
        self,
        replica: Replica,
        watch: Any,
        exchange: Exchange,
        principal: Principal | None,
        body: Any,
        response: Response,
        warnings: tuple[FieldError, ...],
        errors: tuple[FieldError, ...],
        failure: str | None,
        usage: Usage | None,
    ) -> Response | None:
        """Commit to the shared store: the charge decides; a refusal is journaled as its 429.

        A served completion's entry also goes into the ops every replica applies, in the same
        atomic commit, for their usage tallies: the export counts what the journal recorded,
        refused at the commit or not, whatever the journal's bound (the ops log has none).

        None when the request's scripted reply was used up through another replica first:
        nothing was committed, and the request is to be answered again.
        """
        state, operation = self.state, self.operation
        limiter, script = replica.limiter, replica.script
        charge, limiter.pending = limiter.pending, None
        reply, script.chosen = script.chosen, None
        status = response.status_code
        ops = replica.changes(watch) if watch is not None else []
        if not 200 <= status < 300:
            ops = []  # a rejected request changes no state
        if status != 200:
            charge = reply = None  # only an answered completion counts and uses a reply
        entry = _entry(
            state, exchange, operation, principal, body, status, warnings, errors, failure, usage
        )
        if usage is not None and 200 <= status < 300:
            ops = [*ops, usage_op(entry)]
        coverage = coverage_key(operation.id, status)
        try:
            outcome = await replica.commit(charge, ops, entry, coverage, script.claim(reply))
            if outcome.reason == "reply":
                return None
            if charge is None:
                return response
            headers = state.settings.rate_limit_headers
            decision = Decision(
                allowed=outcome.allowed,
                reason=outcome.reason,
                rpm=charge.rpm,
                tpm=charge.tpm,
                remaining_requests=max(0, charge.rpm - outcome.used_requests),
                remaining_tokens=max(0, charge.tpm - outcome.used_tokens),
                retry_after=outcome.retry_after,
                needed=charge.prompt,
            )
            if outcome.allowed:
                if headers:
                    for name, value in decision.headers().items():
                        response.headers[name] = value
                return response
            error = RateLimited(
                decision.message(charge.model),
                headers=decision.headers() if headers else None,
                limit=decision.reason,
            )
            response = error_response(error, self._envelope(error.status))
            entry = _entry(state, exchange, operation, principal, body, 429, warnings, (), None)
            await replica.commit(entry=entry, coverage=coverage_key(operation.id, 429))
            return response
        except StoreUnavailable as unavailable:
            return error_response(unavailable)

    async def _again(
        self,
        replica: Replica,
        number: int,
        call: Call,
        exchange: Exchange,
        principal: Principal | None,
        body: Any,
    ) -> Response | None:
        """Answer a completion again once the store says its scripted reply is used up.

        Rare (two replicas picked the same reply at once) and bounded: the sync drops that
        reply here, so each round serves another reply or none.
        """
        try:
            await replica.sync("read")
        except StoreUnavailable as error:
            return error_response(error)
        state = self.state
        state.draw_for(number)  # the same ids as the answer given up
        failure = None
        usage = None
        with state.lock:
            try:
                outcome = self.handler(state, call)
                if isinstance(outcome, Completion):
                    assert self.renderer is not None, self.operation.id
                    response = self.renderer(state, call, outcome)
                    usage = Usage(
                        outcome.model or "",
                        outcome.prompt_tokens,
                        outcome.completion_tokens,
                        outcome.target_id,
                    )
                else:
                    response = json_response(outcome.status, outcome.body, outcome.headers)
            except ApiError as error:
                response = error_response(error, self._envelope(error.status))
            except Exception:
                failure = traceback.format_exc()
                response = failure_response(state, f"{self.operation.id}: {failure}")
        return await self._commit(
            replica, None, exchange, principal, body, response, (), (), failure, usage
        )

    def _envelope(self, status: int) -> str:
        envelope = self._envelopes.get(status)
        if envelope is None:
            envelope = self._envelopes[status] = error_envelope(
                self.state.bundle, self.operation, status
            )
        return envelope


def _entry(
    state: MockState,
    exchange: Exchange,
    operation: Operation | None,
    principal: Principal | None,
    body: Any,
    status: int,
    warnings: tuple[FieldError, ...],
    errors: tuple[FieldError, ...],
    failure: str | None,
    usage: Usage | None = None,
) -> bytes:
    """A journal entry for a shared store: the wire form (as GET /__admin/requests gives it)."""
    scope = exchange.scope
    masked, key_id = _key_marks(state.journal, exchange, operation, principal)
    entry = JournalEntry(
        seq=0,
        time=state.clock.now(),
        method=exchange.method,
        path=_url_path(scope),
        operation=operation.id if operation else None,
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
        usage=usage if 200 <= status < 300 else None,
    ).as_json()
    del entry["seq"]
    entry["fault"] = exchange.fault is not None
    try:
        return orjson.dumps(entry)
    except orjson.JSONEncodeError:  # a body nested deeper than orjson writes: keep the rest
        entry["body"] = "<body too deeply nested to show>"
        return orjson.dumps(entry)


def _key_marks(
    journal: RequestJournal,
    exchange: Exchange,
    operation: Operation | None,
    principal: Principal | None,
) -> tuple[str | None, str | None]:
    if principal is not None:
        key: str | None = principal.key
    else:  # refused before a key was accepted: journal whatever token was sent, masked
        key = (_credential(exchange, operation) or "").partition(" ")[2].strip() or None
    return journal.key_marks(key) if key else (None, None)


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
    masked, key_id = _key_marks(journal, exchange, operation, principal)
    operation_id = operation.id if operation else None
    journal.record(
        time=state.clock.now(),
        method=exchange.method,
        path=_url_path(scope),
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


def _base_url(scope: Scope) -> str:
    """scheme://host[:port] of the request, as the client addressed the server."""
    url = URL(scope=scope)
    return f"{url.scheme}://{url.netloc}"


def _url_path(scope: Scope) -> str:
    """``request.url.path`` without building the URL (a twentieth of a completion's cost)."""
    path: str = scope["path"]
    return URL(scope=scope).path if _ODD_PATH.search(path) else path


async def commit_unrouted(replica: Replica, request: Request, status: int) -> None:
    """Journal a request that matched no operation (404/405) in the shared store."""
    exchange = Exchange(request.scope, request.receive)
    entry = _entry(replica.state, exchange, None, None, None, status, (), (), None)
    with contextlib.suppress(StoreUnavailable):  # the 404 is the answer either way
        await replica.commit(None, [], entry, None)


def journal_unrouted(state: MockState, request: Request, response: Response) -> None:
    """Journal a request that matched no operation (404/405) with its answer."""
    exchange = Exchange(request.scope, request.receive)
    journal_exchange(
        state, exchange, None, None, None, response.status_code, (), (), None, response=response
    )
