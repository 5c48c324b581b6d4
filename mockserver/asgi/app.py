"""create_app: the Starlette app of one MockState, its exact-path table and failure guard."""

from __future__ import annotations

import traceback
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mockserver.api import agents, assistants, attachments, usage_export
from mockserver.api.knowledge import folders
from mockserver.api.providers import registry
from mockserver.asgi import admin
from mockserver.asgi.browser_guard import guard
from mockserver.asgi.commit import commit_unrouted
from mockserver.asgi.endpoint import (
    RESPONDING,
    ApiEndpoint,
    Handler,
    Renderer,
    journal_unrouted,
)
from mockserver.asgi.responses import error_response, failure_response, json_response
from mockserver.asgi.sse import renderers
from mockserver.config import Settings
from mockserver.contract.openapi import build_openapi
from mockserver.errors import ApiError, MethodNotAllowed, NotFound
from mockserver.faults.delivery import SERVER_SEND, InjectedReset
from mockserver.inspector import routes as inspector
from mockserver.schemas import SchemaBundle, expand_path, load_bundle
from mockserver.state import MockState

if TYPE_CHECKING:
    from mockserver.stores.replica import Replica

__all__ = ["create_app"]


HANDLERS: dict[str, Handler] = {
    **assistants.OPERATIONS,
    **agents.OPERATIONS,
    **attachments.OPERATIONS,
    **registry.OPERATIONS,
    **folders.OPERATIONS,
    **usage_export.OPERATIONS,
}
# Completions render as JSON, or as the family's SSE stream with stream: true.
RENDERERS: dict[str, Renderer] = renderers()


class _Methods:
    """The operations of one path by method, as one ASGI app: one route per path.

    One route per path, not per operation, so that a wrong method's 405 names in ``Allow`` every
    method the path serves (``/knowledge/{folderId}``: PATCH and POST), as a route's methods.
    """

    __slots__ = ("endpoints",)

    def __init__(self) -> None:
        self.endpoints: dict[str, ASGIApp] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # The route let only its methods through; HEAD is Starlette's twin of GET.
        method = scope["method"]
        await self.endpoints["GET" if method == "HEAD" else method](scope, receive, send)


class _ApiRoute(Route):
    """A route whose path parameters never take a value their schema reserves.

    ``folderId`` is never ``search``: ``PATCH /knowledge/search`` is the literal route's 405,
    not a folder named "search".
    """

    def __init__(self, path: str, app: _Methods, reserved: dict[str, frozenset[str]]) -> None:
        super().__init__(path, app, methods=list(app.endpoints))
        self.reserved = {name: words for name, words in reserved.items() if f"{{{name}}}" in path}

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child = super().matches(scope)
        if match is not Match.NONE and self.reserved:
            params = child["path_params"]
            if any(params.get(name) in words for name, words in self.reserved.items()):
                return Match.NONE, {}
        return match, child


class _QueryOptions:
    """An endpoint whose handler reads query options beside the body (Google's ``alt``).

    They join the route's path parameters in the scope, which the endpoint hands the handler
    as ``Call.params``; the other operations never pay for parsing a query.
    """

    __slots__ = ("app", "names")

    def __init__(self, app: ASGIApp, names: tuple[str, ...]) -> None:
        self.app = app
        self.names = names

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        found = {name: query[name] for name in self.names if name in query}
        if found:
            scope["path_params"] = {**scope.get("path_params", {}), **found}
        await self.app(scope, receive, send)


def _api_routes(state: MockState, replica: Replica | None) -> list[Route]:
    bundle = state.bundle
    prefixes: list[str] = bundle.manifest.get("prefixes", [""])
    parameters = bundle.manifest.get("pathParameters", {})
    reserved = {
        name: frozenset(schema["not"]["enum"])
        for name, schema in parameters.items()
        if "enum" in schema.get("not", {})
    }
    paths: dict[str, _Methods] = {}  # in the manifest's order: a literal path before a template
    for prefix in prefixes:
        for op in bundle.operations.values():
            handler = HANDLERS.get(op.id)
            if handler is None:
                continue
            # A route per region: an unknown region matches none, a 404 in the family's shape.
            for path, values in expand_path(op.path, parameters):
                endpoint = ApiEndpoint(op, state, handler, RENDERERS.get(op.family), values)
                endpoint.replica = replica
                app: ASGIApp = endpoint
                if op.query_options:
                    app = _QueryOptions(endpoint, op.query_options)
                paths.setdefault(prefix + path, _Methods()).endpoints[op.method] = app
    return [_ApiRoute(path, methods, reserved) for path, methods in paths.items()]


def _unrouted_envelopes(bundle: SchemaBundle) -> dict[str, str]:
    """The error envelope of unrouted paths by first segment (``/openai``: ``openai``).

    Only segments whose every operation shares one envelope other than ``message``: a 404 under
    ``/openai/`` is OpenAI's, one under ``/attachment/`` stays the API's own.
    """
    found: dict[str, set[str]] = {}
    for op in bundle.operations.values():
        found.setdefault("/" + op.path.split("/")[1], set()).add(op.envelope)
    return {
        segment: next(iter(envelopes))
        for segment, envelopes in found.items()
        if len(envelopes) == 1 and envelopes != {"message"}
    }


def _unrouted_envelope(envelopes: dict[str, str], prefixes: list[str], path: str) -> str:
    for prefix in prefixes:
        if prefix and path.startswith(prefix + "/"):
            path = path[len(prefix) :]
            break
    return envelopes.get("/" + path.split("/")[1], "message")


class _Shortcut:
    """Exact (method, path) pairs of the API straight to their endpoints; the rest to Starlette.

    Regions are expanded into routes of their own, so a dict lookup finds every well-formed API
    request whose path has no free parameter (a model name, a knowledge folder id). What it
    misses (405, 404, a trailing slash, a root path, a free parameter) takes Starlette's
    router, which has the same routes: answers are the router's either way, minus its
    per-request layers.

    Outermost, in place of Starlette's ServerErrorMiddleware (which the table would bypass), it
    is also the one place every failure of the app ends on either route: ``failure_response``
    records it and, if nothing of the response was sent yet, answers the vendor-shaped 500.
    """

    def __init__(self, routes: list[Route], app: ASGIApp, state: MockState) -> None:
        self.app = app
        self.state = state
        self.table: dict[tuple[str, str], ASGIApp] = {}
        for route in routes:
            if "{" in route.path or not isinstance(route.app, _Methods):
                continue  # a free parameter: only the router can match it
            for method, endpoint in route.app.endpoints.items():
                self.table[(method, route.path)] = endpoint
                if method == "GET":
                    self.table[("HEAD", route.path)] = endpoint

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        endpoint = self.table.get((scope["method"], scope["path"]))
        if endpoint is not None and not scope.get("root_path"):
            try:
                await endpoint(scope, receive, send)
            except InjectedReset:
                raise  # the fault the client asked for, not a failure
            except Exception:
                # The endpoint marks the scope when it begins to send: no wrapper around send.
                await self._failed(scope, receive, send, started=RESPONDING in scope)
            return
        started = False

        async def sending(message: Message) -> None:
            nonlocal started
            started = True
            await send(message)

        scope[SERVER_SEND] = send  # a fault's reset needs it behind Starlette's wrappers
        try:
            await self.app(scope, receive, sending)
        except InjectedReset:
            raise
        except Exception:
            await self._failed(scope, receive, send, started=started)

    async def _failed(self, scope: Scope, receive: Receive, send: Send, *, started: bool) -> None:
        where = f"{scope['method']} {scope['path']}"
        response = failure_response(self.state, f"{where}: {traceback.format_exc()}")
        if not started:
            await response(scope, receive, send)


def _openapi_route(state: MockState) -> Route:
    built: list[Response] = []  # built on first request: most servers are never asked

    async def openapi(request: Request) -> Response:
        if not built:
            built.append(json_response(200, build_openapi(state.bundle)))
        return built[0]

    return Route("/openapi.json", openapi, methods=["GET"], name="openapi")


class _MockApp(Starlette):
    def __init__(self, api: list[Route], state: MockState, **options: Any) -> None:
        self._api = api
        self._state = state
        super().__init__(**options)

    def build_middleware_stack(self) -> ASGIApp:
        # Starlette's stack minus its ServerErrorMiddleware, whose place _Shortcut takes.
        app: ASGIApp = ExceptionMiddleware(self.router, handlers=self.exception_handlers)
        for cls, args, kwargs in reversed(self.user_middleware):
            app = cls(app, *args, **kwargs)
        return guard(_Shortcut(self._api, app, self._state), self._state)


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
        response = error_response(error, _unrouted_envelope(envelopes, prefixes, request.url.path))
        if replica is None:
            journal_unrouted(state, request, response)
        else:
            await commit_unrouted(replica, request, error.status)
        return response

    handlers: dict[Any, Any] = {HTTPException: http_error}
    replica = None
    if state.settings.store != "memory":
        from mockserver.stores.replica import open_replica  # Redis only when asked for

        replica = open_replica(state)
    envelopes = _unrouted_envelopes(state.bundle)
    prefixes: list[str] = state.bundle.manifest.get("prefixes", [""])
    api = _api_routes(state, replica)
    app = _MockApp(
        api,
        state,
        routes=[
            *api,
            *admin.routes(state, replica),
            *inspector.routes(state),
            _openapi_route(state),
        ],
        exception_handlers=handlers,
    )
    app.state.mock = state
    app.state.replica = replica
    return app
