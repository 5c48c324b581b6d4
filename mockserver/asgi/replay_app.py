"""ReplayApp: ``serve --replay FILE`` answers API requests from a recording, offline.

Each request is authenticated and scope-checked as the mock checks it (``--no-replay-auth``
skips both), matched to a recorded exchange (``mockserver.proxy.replay``), charged against the
rate limits (``--no-rate-limits`` skips them) and answered with the recorded status, headers and
body byte for byte; a stream is sent chunk by chunk at its recorded pace divided by
``--replay-speed`` (0: no pauses). An unmatched request is a 404 naming the closest recorded one.
No HTTP client here (the proxy's is aiohttp): replay needs no network.
"""

from __future__ import annotations

from typing import Any

import anyio
import orjson
from starlette.types import Receive, Send

from mockserver.asgi.admin import ADMIN_PREFIX
from mockserver.asgi.app import create_app
from mockserver.asgi.endpoint import error_envelope, journal_exchange
from mockserver.asgi.exchange import Exchange, Scope
from mockserver.asgi.responses import error_response
from mockserver.auth import Principal, authenticate, require_scopes
from mockserver.config import Settings
from mockserver.contract.check import find_operation
from mockserver.contract.drift import RecordingError
from mockserver.errors import ApiError, ConfigError, NotFound, RateLimited
from mockserver.proxy.forms import summarise_form
from mockserver.proxy.recording import Recorded, read_recording
from mockserver.proxy.replay import Miss, Replay, request_value
from mockserver.ratelimit import estimate_tokens
from mockserver.schemas import Operation, SchemaBundle
from mockserver.state import MockState

__all__ = ["ReplayApp", "create_replay_app"]


class ReplayApp:
    """The replaying mock as an ASGI app; its state (journal, keys, limits): ``app.state.mock``."""

    def __init__(self, settings: Settings, *, bundle: SchemaBundle | None = None) -> None:
        if settings.replay is None:
            raise ConfigError("replay: no recording given")
        if settings.store != "memory":
            # Turns through the recording, the journal and the limits live in this process.
            raise ConfigError(
                f"store: replay answers from its recording in one process; "
                f"run it without a shared store or workers (got {settings.store})"
            )
        try:
            recorded = read_recording(settings.replay)
        except RecordingError as error:
            raise ConfigError(f"replay: {error}") from None
        self.inner = create_app(settings, bundle=bundle)
        self.state = self.inner.state
        self.mock: MockState = self.inner.state.mock
        self.replay = Replay(recorded, match=settings.replay_match, ignore=settings.replay_ignore)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith((ADMIN_PREFIX, "/openapi.json")):
            await self.inner(scope, receive, send)
            return
        exchange = Exchange(scope, receive)
        state = self.mock
        op = find_operation(state.bundle, exchange.method, exchange.path)
        principal: Principal | None = None
        value: Any = None
        try:
            principal, value, recorded = await self._find(exchange, op)
        except ApiError as error:
            envelope = error_envelope(state.bundle, op, error.status) if op else "message"
            journal_exchange(state, exchange, op, principal, value, error.status, (), (), None)
            await error_response(error, envelope)(scope, receive, send)
            return
        journal_exchange(state, exchange, op, principal, value, recorded.status, (), (), None)
        await self._send(recorded, send)

    async def _find(
        self, exchange: Exchange, op: Operation | None
    ) -> tuple[Principal | None, Any, Recorded]:
        state = self.mock
        settings = state.settings
        principal = None
        if settings.replay_auth:
            principal = authenticate(exchange.header(b"authorization"), state.keys)
            if op is not None:
                require_scopes(principal, op, state.aliases)
        limit = settings.max_upload_bytes if op and op.multipart else settings.max_body_bytes
        raw = await exchange.body(limit)
        if op is not None and op.multipart:  # an upload is matched by its recorded form
            value = await summarise_form(exchange.header(b"content-type"), raw)
        else:
            text = raw.decode("utf-8", "replace") if raw else None
            value = request_value(text, dict(exchange.query))
        with state.lock:
            turns = state.replay_turns
            trial = dict(turns)  # committed only when the request is answered
            found = self.replay.answer(
                op.id if op else None, exchange.method, exchange.path, value, trial
            )
            if isinstance(found, Miss):
                raise NotFound(found.message(exchange.method, exchange.path))
            if settings.rate_limits and op is not None and op.rate_limited and principal:
                self._charge(principal, value, found)
            turns.update(trial)
        return principal, value, found

    def _charge(self, principal: Principal, value: Any, recorded: Recorded) -> None:
        """Count a completion against its workspace and model (429 when over), as the mock does."""
        state = self.mock
        settings = state.settings
        body = value if isinstance(value, dict) else {}
        inline = body.get("assistant") or body.get("agent")
        model = inline.get("model") if isinstance(inline, dict) else None
        if not isinstance(model, str) or model not in state.models:
            model = state.default_model(principal.workspace)
        per = settings.chars_per_token
        prompt = estimate_tokens(len(orjson.dumps(body.get("messages", []))), per)
        total = prompt + estimate_tokens(len(recorded.response_body), per)
        report = settings.rate_limit_headers
        decision = state.limiter.acquire(principal.workspace, model, prompt, total, report=report)
        if decision is not None and not decision.allowed:
            headers = decision.headers() if report else None
            raise RateLimited(decision.message(model), headers=headers, limit=decision.reason)

    async def _send(self, recorded: Recorded, send: Send) -> None:
        headers = [
            (name.lower().encode("latin-1"), value.encode("latin-1"))
            for name, value in recorded.response_headers.items()
            if name.lower() not in ("content-length", "transfer-encoding")
        ]
        if not any(name == b"content-type" for name, _ in headers):
            headers.append((b"content-type", recorded.response_type.encode("latin-1")))
        if not (recorded.stream and recorded.events):
            headers.append((b"content-length", str(len(recorded.response_body)).encode()))
            await send(
                {"type": "http.response.start", "status": recorded.status, "headers": headers}
            )
            await send({"type": "http.response.body", "body": recorded.response_body})
            return
        await send({"type": "http.response.start", "status": recorded.status, "headers": headers})
        speed = self.mock.settings.replay_speed
        previous = 0.0
        for at, chunk in recorded.events:
            if speed and at > previous:
                await anyio.sleep((at - previous) / speed)
            previous = max(previous, at)
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})


def create_replay_app(settings: Settings, *, bundle: SchemaBundle | None = None) -> ReplayApp:
    """The mock answering from ``settings.replay`` (``langdock-mock serve --replay FILE``)."""
    return ReplayApp(settings, bundle=bundle)
