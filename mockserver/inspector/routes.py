"""The inspector's routes under /__admin/ui: the page, its assets, its JSON and its live feed.

Guarded as the admin API is (loopback, or the admin token), plus a cookie: an admin token given
once as ``?token=`` becomes an HttpOnly, SameSite=Strict cookie and the URL is redirected
without it. Every answer carries a Content-Security-Policy that allows this origin's files only
(no inline script, no other origin), and every state-changing call is a POST that must echo the
server's CSRF token in a header and come from this origin.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Awaitable, Callable
from functools import cache
from importlib import resources
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from mockserver.asgi.admin import ADMIN_PREFIX, guard
from mockserver.asgi.body import read_json
from mockserver.asgi.exchange import Exchange
from mockserver.asgi.responses import error_response
from mockserver.errors import ApiError, BadRequest, ConfigError, Conflict, Forbidden, NotFound
from mockserver.inspector.events import feed
from mockserver.inspector.views import (
    Filter,
    coverage_view,
    detail,
    limits_view,
    page,
    state_view,
)
from mockserver.state import MockState

__all__ = ["COOKIE", "CSP", "CSRF_HEADER", "UI_PATH", "routes"]

UI_PATH = ADMIN_PREFIX + "/ui"
"""Where the page is served."""
COOKIE = "langdock_mock_inspector"
"""The cookie an admin token becomes (a digest of the token, never the token)."""
CSRF_HEADER = "x-inspector-csrf"
"""The header a state-changing call echoes the page's CSRF token in."""
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
"""This origin's files only: no inline script or style element, nothing from elsewhere."""

_SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}
_ASSETS = {
    "inspector.js": "text/javascript; charset=utf-8",
    "inspector.css": "text/css; charset=utf-8",
    "uPlot.iife.min.js": "text/javascript; charset=utf-8",
    "uPlot.min.css": "text/css; charset=utf-8",
}
Handler = Callable[[MockState, Request], Awaitable[Response]]


@cache
def _asset(name: str) -> bytes:
    return resources.files("mockserver.inspector").joinpath("static", name).read_bytes()


def _digest(token: str) -> str:
    return hashlib.sha256(b"langdock-mock inspector\0" + token.encode()).hexdigest()


def _secured(response: Response) -> Response:
    response.headers.update(_SECURITY_HEADERS)
    return response


def _json(body: Any, status: int = 200) -> Response:
    return _secured(Response(orjson.dumps(body), status, media_type="application/json"))


def _allow(state: MockState, request: Request) -> None:
    token = state.settings.admin_token
    if token is not None:
        cookie = request.cookies.get(COOKIE)
        if cookie is not None and secrets.compare_digest(cookie.encode(), _digest(token).encode()):
            return
        given = request.query_params.get("token") if request.url.path == UI_PATH else None
        if given is not None and secrets.compare_digest(given.encode(), token.encode()):
            return  # the page swaps it for the cookie at once
    guard(state, request)


def _csrf(csrf: str, request: Request) -> None:
    given = request.headers.get(CSRF_HEADER, "")
    if not secrets.compare_digest(given.encode(), csrf.encode()):
        raise Forbidden("Inspector calls that change state need the page's CSRF token")
    origin = request.headers.get("origin")
    own = f"{request.url.scheme}://{request.headers.get('host', '')}"
    if origin is not None and origin != own:
        raise Forbidden(f"Inspector calls from another origin ({origin}) are refused")


def _wrap(
    state: MockState, handler: Handler, csrf: str | None
) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        try:
            _allow(state, request)
            if csrf is not None:
                _csrf(csrf, request)
            return await handler(state, request)
        except ApiError as error:
            return _secured(error_response(error))
        except ConfigError as error:
            return _secured(error_response(BadRequest(str(error))))

    return endpoint


def _int(request: Request, name: str) -> int | None:
    raw = request.query_params.get(name) or None
    if raw is None:
        return None
    if not raw.isascii() or not raw.isdigit() or len(raw) > 18:
        raise BadRequest(f"Query parameter {name} must be a non-negative integer")
    return int(raw)


def _page_handler(csrf: str) -> Handler:
    async def index(state: MockState, request: Request) -> Response:
        """The page; ``?token=`` (the admin token) is swapped for a cookie and dropped."""
        if "token" in request.query_params:  # checked by _allow; never left in the address bar
            redirect = RedirectResponse(UI_PATH, status_code=303)
            expected = state.settings.admin_token
            if expected is not None:
                redirect.set_cookie(
                    COOKIE,
                    _digest(expected),
                    httponly=True,
                    samesite="strict",
                    path=ADMIN_PREFIX,
                    secure=request.url.scheme == "https",
                )
            return _secured(redirect)
        html = _asset("index.html").decode().replace("{{csrf}}", csrf)
        return _secured(Response(html, 200, media_type="text/html; charset=utf-8"))

    return index


async def asset(state: MockState, request: Request) -> Response:
    """A file of the page (known names only)."""
    name = request.path_params["name"]
    media = _ASSETS.get(name)
    if media is None:
        raise NotFound(f"No inspector file {name}")
    return _secured(Response(_asset(name), 200, media_type=media))


async def entries(state: MockState, request: Request) -> Response:
    """A page of journal rows, newest first (``before`` a seq, ``limit``, the filters)."""
    flt = Filter.from_query(request.query_params)
    return _json(page(state, flt, _int(request, "before"), _int(request, "limit") or 100))


async def entry(state: MockState, request: Request) -> Response:
    """One exchange in full."""
    raw = request.path_params["seq"]
    seq = int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 19 else -1
    with state.lock:
        found = state.journal.find(seq)
    if found is None:
        raise NotFound(f"No journal entry {raw} (the journal keeps the newest entries only)")
    return _json(detail(state, found))


async def events(state: MockState, request: Request) -> Response:
    """The live feed from ``since`` (or the browser's Last-Event-ID after a reconnect)."""
    resumed = request.headers.get("last-event-id", "")
    since = int(resumed) if resumed.isascii() and resumed.isdigit() and len(resumed) < 19 else None
    if since is None:
        since = _int(request, "since") or 0
    response = feed(state, Filter.from_query(request.query_params), since)
    return _secured(response)


async def limits(state: MockState, request: Request) -> Response:
    """Usage of every window on the mock clock, with its 429s."""
    return _json(limits_view(state))


async def overview(state: MockState, request: Request) -> Response:
    """Workspaces, keys, resources, fault rules, scripted replies, the clock."""
    return _json(state_view(state))


async def coverage(state: MockState, request: Request) -> Response:
    """Documented statuses exercised and never seen."""
    since = request.query_params.get("since", "start")
    if since not in ("start", "reset"):
        raise BadRequest("Query parameter since must be start or reset")
    return _json(coverage_view(state, since))


def _local_only(state: MockState) -> None:
    # Under a shared store the admin API commits changes for every replica; this page does not.
    if state.settings.store != "memory":
        raise Conflict(
            "With a shared store, change state through the admin API (POST /__admin/reset, "
            "POST /__admin/clock): it applies the change to every replica"
        )


async def advance(state: MockState, request: Request) -> Response:
    """Move the mock clock forward by ``{"advance": seconds}``."""
    _local_only(state)
    body = await read_json(Exchange(request.scope, request.receive), 4096)
    seconds = body.get("advance") if isinstance(body, dict) else None
    if not isinstance(seconds, int | float) or isinstance(seconds, bool):
        raise BadRequest('Body must be {"advance": seconds}')
    state.clock.advance(float(seconds))
    return _json({"now": state.clock.now(), "frozen": state.clock.frozen})


async def reset(state: MockState, request: Request) -> Response:
    """Back to the start-up configuration (the journal empties)."""
    _local_only(state)
    state.reset()
    return _json({"status": "reset"})


def routes(state: MockState) -> list[BaseRoute]:
    """The inspector's routes, bound to ``state`` (and a CSRF token of this server's own)."""
    csrf = secrets.token_urlsafe(24)
    api = UI_PATH + "/api"
    table: list[tuple[str, str, Handler, bool]] = [
        (UI_PATH, "GET", _page_handler(csrf), False),
        (UI_PATH + "/static/{name}", "GET", asset, False),
        (UI_PATH + "/events", "GET", events, False),
        (api + "/entries", "GET", entries, False),
        (api + "/entries/{seq}", "GET", entry, False),
        (api + "/limits", "GET", limits, False),
        (api + "/state", "GET", overview, False),
        (api + "/coverage", "GET", coverage, False),
        (api + "/clock", "POST", advance, True),
        (api + "/reset", "POST", reset, True),
    ]
    return [
        Route(path, _wrap(state, handler, csrf if guarded else None), methods=[method])
        for path, method, handler, guarded in table
    ]
