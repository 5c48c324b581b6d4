"""ProxyApp: the mock in front of an upstream, checking both directions, recording what it saw.

Every request that is not ``/__admin`` or ``/openapi.json`` goes to the upstream with the
client's own headers (its ``Authorization`` included), whichever operation of the manifest it
is. The request is checked first: ``--validate warn`` names what is wrong in ``X-Mock-Warnings``
and forwards; ``--validate enforce`` answers the mock's own 400 and the upstream never sees it.
The response is checked on the way back: a JSON body is read whole, checked and sent with its
drift in ``X-Mock-Drift``; an event stream is passed on chunk by chunk as it arrives (its drift
is known only at its end, so it goes to the journal and the recording, not to a header).
"""

from __future__ import annotations

import time
import traceback
from typing import Any

import anyio
import orjson
from starlette.types import Receive, Send

from mockserver.asgi.admin import ADMIN_PREFIX
from mockserver.asgi.app import create_app
from mockserver.asgi.body import read_json
from mockserver.asgi.endpoint import error_envelope, journal_exchange
from mockserver.asgi.exchange import Exchange, Scope
from mockserver.asgi.responses import error_response, failure_response
from mockserver.config import Settings
from mockserver.contract.check import Contract, Finding, find_operation
from mockserver.contract.drift import RecordingError
from mockserver.errors import ApiError, BadRequest, ConfigError, FieldError, ValidationFailed
from mockserver.proxy.checks import (
    STREAM,
    as_warnings,
    header_value,
    media_type,
    request_notes,
    response_findings,
    stream_check,
)
from mockserver.proxy.forms import summarise_form
from mockserver.proxy.forward import Answer, Upstream, request_headers, response_headers
from mockserver.proxy.recording import Recorded, Recorder
from mockserver.proxy.redaction import Redactor, bearer, key_id, key_mark
from mockserver.schemas import Operation, SchemaBundle
from mockserver.state import MockState
from mockserver.validation import check

__all__ = ["ProxyApp", "create_proxy_app"]

# Shorter "keys" (a test's "k") would mark ordinary words; real keys are far longer.
_MASKED_KEY_CHARS = 8
# Response headers not worth a recording: they differ on every call and replay sets its own.
_UNRECORDED = frozenset(
    {"date", "set-cookie", "server", "content-length", "x-mock-drift", "x-mock-warnings"}
)


def _replaying(raw: bytes) -> Receive:
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": raw, "more_body": False}

    return receive


class _Request:
    """One proxied request as the checks saw it."""

    __slots__ = ("body", "errors", "form", "notes", "raw", "refusal", "warnings")

    def __init__(self, raw: bytes) -> None:
        self.raw = raw
        self.body: Any = None
        self.form = False  # an upload: ``body`` is its form (or None), never to record raw
        self.warnings: tuple[FieldError, ...] = ()
        self.errors: tuple[FieldError, ...] = ()
        self.refusal: ApiError | None = None
        self.notes: list[str] = []


class ProxyApp:
    """The proxy as an ASGI app; the mock's state (journal, admin API) is ``app.state.mock``."""

    def __init__(self, settings: Settings, *, bundle: SchemaBundle | None = None) -> None:
        if settings.store != "memory":
            # The proxy's state is the upstream's: what it keeps itself (journal, recording,
            # drift) is one process's record of the exchanges it carried, never shared.
            raise ConfigError(
                f"store: the proxy keeps its journal and recording in its own process; "
                f"run it without a shared store (got {settings.store})"
            )
        self.inner = create_app(settings, bundle=bundle)
        self.state = self.inner.state
        self.mock: MockState = self.inner.state.mock
        self.contract = Contract(self.mock.bundle)
        self.upstream = Upstream(
            settings.upstream,
            timeout=settings.upstream_timeout,
            connect_timeout=settings.upstream_connect_timeout,
        )
        self.redactor = Redactor(settings.redact)
        self.recorder: Recorder | None = None
        if settings.record is not None:
            try:
                self.recorder = Recorder(settings.record, settings.record_format, settings.upstream)
            except RecordingError as error:
                raise ConfigError(f"record: {error}") from None
        self.enforce = settings.validate == "enforce"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await self._lifespan(receive, send)
        elif kind != "http" or scope["path"].startswith((ADMIN_PREFIX, "/openapi.json")):
            await self.inner(scope, receive, send)
        else:
            started: list[bool] = []

            async def sending(message: Any) -> None:
                started.append(True)
                await send(message)

            try:
                await self._proxy(scope, receive, sending)
            except Exception:  # a bug in the proxy: loud in the journal, never a traceback
                failure = failure_response(
                    self.mock, f"proxy {scope['path']}: {traceback.format_exc()}"
                )
                if not started:
                    await failure(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.upstream.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _proxy(self, scope: Scope, receive: Receive, send: Send) -> None:
        exchange = Exchange(scope, receive)
        settings = self.mock.settings
        op = find_operation(self.mock.bundle, exchange.method, exchange.path)
        limit = settings.max_upload_bytes if op and op.multipart else settings.max_body_bytes
        try:
            request = _Request(await exchange.body(limit))
        except ApiError as error:  # 413, or a client gone mid-body: nothing to forward
            await self._answer(exchange, op, None, error, scope, receive, send)
            return
        if op is None:
            text = f"{exchange.method} {exchange.path} is not an operation of the contract"
            request.notes.append(f"request: unknown endpoint: {text}")
            content_type = exchange.header(b"content-type")
            if media_type(content_type) == "multipart/form-data":  # even here, no file's bytes
                request.form = True
                request.body = await summarise_form(content_type, request.raw)
        else:
            await self._check_request(exchange, op, request)
        if self.enforce and (request.refusal is not None or request.errors):
            refusal = request.refusal or ValidationFailed(request.errors)
            await self._answer(exchange, op, request, refusal, scope, receive, send)
            return
        target = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
        if scope.get("query_string"):
            target += "?" + scope["query_string"].decode("latin-1")
        started = time.monotonic()
        try:
            answer = await self.upstream.open(
                exchange.method, target, request_headers(scope["headers"]), request.raw
            )
        except ApiError as error:  # 502 or 504: the upstream never answered
            await self._answer(exchange, op, request, error, scope, receive, send)
            return
        headers = response_headers(answer.headers)
        if request.notes:
            headers.append((b"x-mock-warnings", header_value(request.notes).encode("latin-1")))
        if media_type(answer.content_type) == STREAM:
            await self._stream(exchange, op, request, answer, headers, started, receive, send)
            return
        try:
            content = b"".join([chunk async for chunk in self.upstream.chunks(answer)])
        except ApiError as error:  # the upstream stopped midway through a JSON body
            await self._answer(exchange, op, request, error, scope, receive, send)
            return
        status = answer.status
        findings = (
            response_findings(self.contract, op, status, answer.content_type, content)
            if op is not None
            else []
        )
        if findings:
            drift = header_value(str(f) for f in findings)
            headers.append((b"x-mock-drift", drift.encode("latin-1")))
        headers.append((b"content-length", str(len(content)).encode()))
        # Journaled and recorded before the answer goes, so a client that has it can read both.
        self._done(exchange, op, request, status, headers, content, (), findings, started)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": content})

    async def _check_request(self, exchange: Exchange, op: Operation, request: _Request) -> None:
        """Fill in what is wrong with the request, by the contract (an upload: by its form)."""
        bundle = self.mock.bundle
        schema = op.body_schema
        if op.multipart:
            request.form = True
            request.body = await summarise_form(exchange.header(b"content-type"), request.raw)
            if request.body is None:
                request.notes.append("request: not a multipart or URL-encoded form")
                return
        if schema is None:
            return
        try:
            if op.request is None:
                request.body = dict(exchange.query)
            elif not op.multipart:  # an upload's form was read above
                replayed = Exchange(exchange.scope, _replaying(request.raw))
                request.body = await read_json(replayed, len(request.raw) + 1)
            verdict = check(bundle, schema, request.body)
        except BadRequest as refusal:
            request.refusal = refusal
            request.notes.append(f"request: not a valid body: {refusal.message}")
            return
        request.warnings = verdict.warnings
        request.errors = verdict.errors
        if self.mock.settings.strict:
            request.errors += verdict.warnings
        request.notes += request_notes(verdict.errors, "invalid")
        request.notes += request_notes(verdict.warnings, "unknown field")

    async def _stream(
        self,
        exchange: Exchange,
        op: Operation | None,
        request: _Request,
        answer: Answer,
        headers: list[tuple[bytes, bytes]],
        started: float,
        receive: Receive,
        send: Send,
    ) -> None:
        """Pass an event stream on as it comes, checking each event on the way."""
        status = answer.status
        findings: list[Finding] = []
        checker = None
        if op is not None:
            if status not in op.responses:
                findings += self.contract.response(op, status, None)
                drift = header_value(str(f) for f in findings)
                headers.append((b"x-mock-drift", drift.encode("latin-1")))
            checker = stream_check(self.contract, op, status)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        opened = time.monotonic()
        events: list[tuple[float, bytes]] = []
        cut: str | None = None
        gone = False
        async with anyio.create_task_group() as group:

            async def watch() -> None:
                # The body was read whole, so the next message is the client hanging up.
                nonlocal gone
                while (await receive())["type"] != "http.disconnect":
                    pass
                gone = True
                group.cancel_scope.cancel()

            group.start_soon(watch)
            try:
                async for chunk in self.upstream.chunks(answer):
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                    events.append((time.monotonic() - opened, chunk))
                    if checker is not None:
                        checker.feed(chunk)
            except ApiError as error:  # a timeout or a reset midway: the stream is cut
                cut = f"the upstream stream broke off: {error.message}"
            group.cancel_scope.cancel()
        if checker is not None and not gone:
            findings += checker.close(cut)
        elif cut is not None:
            findings.append(Finding("stream", "stream end", "$", cut))
        if gone:
            request.notes.append("the client disconnected before the stream ended")
        body = b"".join(chunk for _, chunk in events)
        self._done(
            exchange,
            op,
            request,
            status,
            headers,
            body,
            tuple(events),
            findings,
            started,
            recorded=not gone,
        )
        if not gone:
            await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _answer(
        self,
        exchange: Exchange,
        op: Operation | None,
        request: _Request | None,
        error: ApiError,
        scope: Scope,
        receive: Receive,
        send: Send,
    ) -> None:
        """The mock's own answer (400, 413, 502, 504): journaled, never recorded."""
        envelope = error_envelope(self.mock.bundle, op, error.status) if op else "message"
        response = error_response(error, envelope)
        if request is not None and request.notes:
            response.headers["X-Mock-Warnings"] = header_value(request.notes)
        upstream_failed = error.status in (502, 504)
        journal_exchange(
            self.mock,
            exchange,
            op,
            None,
            request.body if request else None,
            error.status,
            request.warnings if request else (),
            request.errors if request else (),
            error.message if upstream_failed else None,
        )
        await response(scope, receive, send)

    def _done(
        self,
        exchange: Exchange,
        op: Operation | None,
        request: _Request,
        status: int,
        headers: list[tuple[bytes, bytes]],
        body: bytes,
        events: tuple[tuple[float, bytes], ...],
        findings: list[Finding],
        started: float,
        *,
        recorded: bool = True,
    ) -> None:
        """Journal the exchange (drift as warnings) and add it to the recording."""
        journal_exchange(
            self.mock,
            exchange,
            op,
            None,
            request.body,
            status,
            request.warnings + as_warnings(findings),
            request.errors,
            None,
        )
        if self.recorder is None or not recorded:
            return
        response_type = media_type(_header(headers, b"content-type")) or "application/json"
        redactor = self.redactor
        request_body, request_redacted = self._request_text(request)
        if response_type == STREAM:
            events, response_redacted = redactor.events(events)
            if response_redacted:
                body = b"".join(chunk for _, chunk in events)
        else:
            body, response_redacted = redactor.text(body)
        response_headers = {
            name.decode("latin-1"): value.decode("latin-1")
            for name, value in headers
            if name.decode("latin-1") not in _UNRECORDED
        }
        key = bearer(exchange.header(b"authorization"))
        if key and len(key) >= _MASKED_KEY_CHARS:  # a key the upstream echoed back, anywhere
            mark = key_mark(key)
            if request_body is not None:
                request_body = request_body.replace(key, mark)
            body = body.replace(key.encode(), mark.encode())
            events = tuple((at, chunk.replace(key.encode(), mark.encode())) for at, chunk in events)
            response_headers = {k: v.replace(key, mark) for k, v in response_headers.items()}
        self.recorder.write(
            Recorded(
                method=exchange.method,
                path=exchange.path,
                status=status,
                operation=op.id if op else None,
                query=dict(exchange.query),
                request_type=exchange.header(b"content-type"),
                request_body=request_body,
                response_type=response_type,
                response_body=body,
                response_headers=response_headers,
                events=events,
                key_id=key_id(exchange.header(b"authorization")),
                redacted=redactor.paths if (request_redacted or response_redacted) else (),
                drift=tuple(request.notes) + tuple(str(f) for f in findings),
                time=self.mock.clock.now(),
                duration=time.monotonic() - started,
            )
        )

    def _request_text(self, request: _Request) -> tuple[str | None, bool]:
        """A request body as recorded: as sent, or re-encoded with the redacted paths replaced."""
        raw = request.raw
        if request.form:  # an upload: its form, never a file's bytes
            if request.body is None:
                return None, False
            form, changed = self.redactor.apply(request.body)
            return orjson.dumps(form).decode(), changed
        if not raw:
            return None, False
        if self.redactor and request.body is not None:
            redacted, changed = self.redactor.apply(request.body)
            if changed:
                return orjson.dumps(redacted).decode(), True
            return raw.decode("utf-8", "replace"), False
        raw, changed = self.redactor.text(raw)
        return raw.decode("utf-8", "replace"), changed


def _header(headers: list[tuple[bytes, bytes]], name: bytes) -> str | None:
    for key, value in headers:
        if key == name:
            return value.decode("latin-1")
    return None


def create_proxy_app(settings: Settings, *, bundle: SchemaBundle | None = None) -> ProxyApp:
    """The proxy for ``settings.upstream`` (``langdock-mock proxy``)."""
    return ProxyApp(settings, bundle=bundle)
