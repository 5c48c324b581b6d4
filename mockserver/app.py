"""create_app: the Starlette application for one MockState."""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp

from . import admin, agents, assistants, attachments, streaming
from .config import Settings
from .errors import ApiError, MethodNotAllowed, NotFound
from .faultware import FaultWare
from .handlers import (
    Handler,
    Renderer,
    error_response,
    journal_unrouted,
    json_response,
    make_endpoint,
)
from .openapi import build_openapi
from .schemas import SchemaBundle, load_bundle
from .state import MockState

__all__ = ["create_app"]


HANDLERS: dict[str, Handler] = {
    **assistants.OPERATIONS,
    **agents.OPERATIONS,
    **attachments.OPERATIONS,
}
# Completions render as JSON, or as the family's SSE stream with stream: true.
RENDERERS: dict[str, Renderer] = streaming.renderers()


def _api_routes(state: MockState) -> list[BaseRoute]:
    bundle = state.bundle
    routes: list[BaseRoute] = []
    prefixes: list[str] = bundle.manifest.get("prefixes", [""])
    # Completions first: the hottest route should match on the first try.
    ordered = sorted(bundle.operations.values(), key=lambda op: not op.rate_limited)
    for prefix in prefixes:
        for op in ordered:
            handler = HANDLERS.get(op.id)
            if handler is None:
                continue
            endpoint = make_endpoint(op, state, handler, RENDERERS.get(op.family))
            routes.append(
                Route(prefix + op.path, endpoint, methods=[op.method], name=f"{prefix}{op.id}")
            )
    return routes


def _openapi_route(state: MockState) -> Route:
    built: list[Response] = []  # built on first request: most servers are never asked

    async def openapi(request: Request) -> Response:
        if not built:
            built.append(json_response(200, build_openapi(state.bundle)))
        return built[0]

    return Route("/openapi.json", openapi, methods=["GET"], name="openapi")


class _MockApp(Starlette):
    # FaultWare must sit outside even Starlette's error middleware: only the server's own `send`
    # leads to the connection, which a reset or a truncated body has to drop.
    def build_middleware_stack(self) -> ASGIApp:
        return FaultWare(super().build_middleware_stack())


def create_app(
    settings: Settings | None = None,
    *,
    bundle: SchemaBundle | None = None,
    state: MockState | None = None,
) -> Starlette:
    """The mock as an ASGI app; its MockState is ``app.state.mock``."""
    if state is None:
        settings = settings or Settings()
        bundle = bundle or load_bundle(settings.schema_dir, settings.profile)
        state = MockState(settings, bundle)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        error: ApiError
        if exc.status_code == 405:
            # Starlette joins a set, whose order changes with the process's hash seed.
            allow = sorted(filter(None, (exc.headers or {}).get("Allow", "").split(", ")))
            error = MethodNotAllowed(
                f"Method {request.method} not allowed for {request.url.path}",
                headers={"Allow": ", ".join(allow)},
            )
        elif exc.status_code == 404:
            error = NotFound(f"No route for {request.method} {request.url.path}")
        else:
            error = ApiError(str(exc.detail))
            error.status = exc.status_code  # type: ignore[misc]  # Reason: one-off status.
        journal_unrouted(state, request, error.status)
        return error_response(error)

    async def server_error(request: Request, exc: Exception) -> Response:
        state.record_failure(f"{request.method} {request.url.path}: {exc!r}")
        return json_response(500, {"message": "Internal Server Error (mock_internal_error)"})

    handlers: dict[Any, Any] = {HTTPException: http_error, Exception: server_error}
    app = _MockApp(
        # API routes first: the completions route then matches on the first try (admin is cold).
        routes=[*_api_routes(state), *admin.routes(state), _openapi_route(state)],
        exception_handlers=handlers,
    )
    app.state.mock = state
    return app
