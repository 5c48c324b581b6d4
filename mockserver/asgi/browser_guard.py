"""BrowserGuard: the real API refuses browser-origin requests; so does the mock, unless allowed."""

from __future__ import annotations

from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from mockserver.asgi.admin import ADMIN_PREFIX
from mockserver.asgi.endpoint import journal_unrouted
from mockserver.asgi.responses import error_response
from mockserver.errors import ApiError
from mockserver.schemas import SchemaBundle
from mockserver.state import MockState

__all__ = ["BrowserBlocked", "BrowserGuard", "guard"]


class BrowserBlocked(ApiError):
    """The refusal of a browser-origin request (status and message from api.json's ``browser``)."""

    def __init__(self, bundle: SchemaBundle) -> None:
        rule = bundle.manifest.get("browser", {})
        super().__init__(rule.get("message", "Browser-origin requests are blocked"))
        self._status = int(rule.get("status", 403))

    @property
    def status(self) -> int:  # type: ignore[override]  # Reason: from the manifest, per bundle.
        return self._status


def _browser(scope: Scope) -> bool:
    """An Origin header (every cross-origin fetch has one), or a CORS preflight."""
    headers = scope["headers"]
    for name, _ in headers:
        if name == b"origin":
            return True
    return scope["method"] == "OPTIONS" and any(
        name == b"access-control-request-method" for name, _ in headers
    )


class BrowserGuard:
    """Pure ASGI: a browser's request to the API (not /__admin) is refused before routing.

    Journaled like any refused request, so ``langdock_mock`` users see what a browser tried.
    """

    def __init__(self, app: ASGIApp, state: MockState) -> None:
        self.app = app
        self.state = state
        self.refusal = BrowserBlocked(state.bundle)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(ADMIN_PREFIX) or not _browser(scope):
            await self.app(scope, receive, send)
            return
        response = error_response(self.refusal)
        journal_unrouted(self.state, Request(scope, receive), response)
        await response(scope, receive, send)


def guard(app: ASGIApp, state: MockState) -> ASGIApp:
    """The app behind the browser rule: refused by default; with ``allow_browser``, CORS for all.

    Allowed, Starlette's CORSMiddleware answers preflights and adds the CORS headers (any
    origin, method and header; credentials too, so a front end can send its Bearer key).
    """
    if state.settings.allow_browser:
        return CORSMiddleware(
            app,
            allow_origin_regex=".*",
            allow_methods=["*"],
            allow_headers=["*"],
            allow_credentials=True,
            expose_headers=["Retry-After", "X-Mock-Warnings", "X-RateLimit-Remaining"],
        )
    return BrowserGuard(app, state)
