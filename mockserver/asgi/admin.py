"""The control API under /__admin: thin wrappers over MockState, for tests in any language."""

from __future__ import annotations

import ipaddress
import secrets
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from mockserver import __version__
from mockserver.api.scripted import ABSENT, ReplyMatch, ScriptedReply
from mockserver.asgi.body import read_json
from mockserver.asgi.exchange import Exchange
from mockserver.asgi.responses import error_response, json_response
from mockserver.config import ALL_SCOPES, PERSONAL_SCOPES
from mockserver.contract.coverage import coverage_report, format_coverage
from mockserver.errors import (
    ApiError,
    BadRequest,
    ConfigError,
    Forbidden,
    NotFound,
    Unauthenticated,
    ValidationFailed,
)
from mockserver.faults.rules import (
    add_fault,
    clear_faults,
    fault_problems,
    list_faults,
    remove_fault,
)
from mockserver.state import MockState
from mockserver.store import KnowledgeFolder
from mockserver.validation import check

if TYPE_CHECKING:
    from mockserver.stores.replica import Replica

__all__ = ["ADMIN_PREFIX", "ROUTE_TABLE", "guard", "routes"]

ADMIN_PREFIX = "/__admin"
AdminHandler = Callable[[MockState, Request], Awaitable[Response]]
SharedHandler = Callable[["Replica", Request], Awaitable[Response]]


def _loopback(request: Request) -> bool:
    host = request.client.host if request.client else ""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host in ("testclient", "localhost")


def guard(state: MockState, request: Request) -> None:
    """Refuse (401/403) a caller the admin API does not answer: see ``Settings.admin_token``."""
    settings = state.settings
    if settings.admin_token is not None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        given = (
            token.strip()
            if scheme.lower() == "bearer"
            else request.headers.get("x-admin-token", "")
        )
        if not secrets.compare_digest(given.encode(), settings.admin_token.encode()):
            raise Unauthenticated("Admin API needs the admin token (Authorization: Bearer <token>)")
    elif not settings.admin_open and not _loopback(request):
        raise Forbidden(
            "Admin API answers loopback clients only; start with --admin-open or --admin-token"
        )


async def _body(state: MockState, request: Request, schema: str) -> dict[str, Any]:
    body = await read_json(Exchange(request.scope, request.receive), state.settings.max_body_bytes)
    verdict = check(state.bundle, schema, body)
    errors = verdict.errors + verdict.warnings  # our own API: unknown fields are errors
    if errors:
        raise ValidationFailed(errors)
    return body


def _wrap(
    state: MockState,
    handler: AdminHandler,
    replica: Replica | None,
    shared: SharedHandler | None = None,
) -> Callable[[Request], Awaitable[Response]]:

    async def endpoint(request: Request) -> Response:
        try:
            guard(state, request)
            change = request.method != "GET"
            if replica is None:
                if change:  # its ids: from its place in the order of changes, as in Redis
                    state.draw_for(-state.next_change())
                return await handler(state, request)
            if shared is not None:  # answered from the shared store itself
                return await shared(replica, request)
            # Everything else changes the local state, then commits the change for every replica.
            number = await replica.sync("change" if change else "read")
            if change:
                state.draw_for(-number)
            watch = replica.watch(admin=True)
            try:
                response = await handler(state, request)
            finally:
                ops = replica.changes(watch)
            if ops and response.status_code < 300:
                await replica.commit(ops=ops)
            return response
        except ApiError as error:
            return error_response(error)
        except ConfigError as error:
            return error_response(BadRequest(str(error)))

    return endpoint


def _int_param(request: Request, name: str) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        raise BadRequest(f"Query parameter {name} must be an integer") from None


async def health(state: MockState, request: Request) -> Response:
    """Liveness, the profile and the version."""
    return json_response(
        200,
        {
            "status": "ok",
            "version": __version__,
            "profile": state.settings.profile,
            "operations": len(state.bundle.operations),
        },
    )


async def reset(state: MockState, request: Request) -> Response:
    """Back to the start-up configuration."""
    state.reset()
    return json_response(200, {"status": "reset"})


async def add_key(state: MockState, request: Request) -> Response:
    """Register a key with a workspace, scopes and the admin flag."""
    body = await _body(state, request, "admin/key.json")
    kind = body.get("kind", "workspace")
    try:
        principal = state.add_key(
            body.get("key"),
            workspace=body.get("workspace", "default"),
            scopes=body.get("scopes", PERSONAL_SCOPES if kind == "personal" else ALL_SCOPES),
            admin=body.get("admin", False),
            kind=kind,
        )
    except ConfigError as error:
        raise BadRequest(str(error)) from None
    return json_response(
        201,
        {
            "key": principal.key,
            "workspace": principal.workspace,
            "scopes": sorted(principal.scopes),
            "admin": principal.admin,
            "kind": principal.kind,
        },
    )


async def share(state: MockState, request: Request) -> Response:
    """Share an assistant or agent with a key."""
    body = await _body(state, request, "admin/share.json")
    target = body.get("assistantId") or body["agentId"]
    try:
        state.share(body["key"], target)
    except ConfigError as error:
        raise NotFound(str(error)) from None
    return json_response(200, {"status": "shared", "key": body["key"], "id": target})


async def add_action(state: MockState, request: Request) -> Response:
    """Make an action id known in a workspace."""
    body = await _body(state, request, "admin/action.json")
    state.add_action(body.get("workspace", "default"), body["actionId"])
    return json_response(
        201, {"workspace": body.get("workspace", "default"), "actionId": body["actionId"]}
    )


def _folder_json(folder: KnowledgeFolder) -> dict[str, Any]:
    return {
        "id": folder.id,
        "name": folder.name,
        "workspace": folder.workspace,
        "shared_with": None if folder.shared_with is None else sorted(folder.shared_with),
        "editors": None if folder.editors is None else sorted(folder.editors),
        "files": len(folder.files),
    }


async def folders_post(state: MockState, request: Request) -> Response:
    """Make a knowledge folder (shared with, and editable by, the whole workspace by default)."""
    body = await _body(state, request, "admin/knowledge-folder.json")
    folder = state.add_folder(
        body["workspace"],
        folder_id=body.get("id"),
        name=body.get("name"),
        shared_with=body.get("shared_with"),
        editors=body.get("editors"),
    )
    return json_response(201, _folder_json(folder))


async def folders_get(state: MockState, request: Request) -> Response:
    """Every knowledge folder (``?workspace=`` for one workspace's)."""
    workspace = request.query_params.get("workspace")
    with state.lock:
        found = [
            _folder_json(f)
            for f in state.store.folders.values()
            if workspace is None or f.workspace == workspace
        ]
    return json_response(200, {"folders": found})


async def folder_delete(state: MockState, request: Request) -> Response:
    """Delete a knowledge folder with its files."""
    folder_id = request.path_params["folder_id"]
    if not state.remove_folder(folder_id):
        raise NotFound(f"No knowledge folder {folder_id}")
    return json_response(200, {"status": "deleted", "id": folder_id})


async def export_file(state: MockState, request: Request) -> Response:
    """A usage export's CSV: what its downloadUrl serves."""
    file_path = request.path_params["file_path"]
    with state.lock:
        text = state.exports.get(file_path)
    if text is None:
        raise NotFound(f"No export {file_path}")
    return Response(text, 200, media_type="text/csv; charset=utf-8")


async def requests_list(state: MockState, request: Request) -> Response:
    """The journal, filtered by path, status, key, operation and a since cursor."""
    params = request.query_params
    with state.lock:
        entries = state.journal.entries(
            path=params.get("path") or None,
            status=_int_param(request, "status"),
            key=params.get("key") or None,
            since=_int_param(request, "since") or 0,
            operation=params.get("operation") or None,
        )
        last = state.journal.last_seq
    return _requests_response([e.as_json() for e in entries], last)


def _requests_response(items: list[dict[str, Any]], last: int) -> Response:
    payload: dict[str, Any] = {"requests": items, "last": last}
    try:
        content = orjson.dumps(payload)
    except orjson.JSONEncodeError:  # a body nested deeper than orjson writes: keep the rest
        for item in items:
            try:
                orjson.dumps(item["body"])
            except orjson.JSONEncodeError:
                item["body"] = "<body too deeply nested to show>"
        content = orjson.dumps(payload)
    return Response(content, 200, media_type="application/json")


async def requests_clear(state: MockState, request: Request) -> Response:
    """Empty the journal alone."""
    with state.lock:
        state.journal.clear()
    return json_response(200, {"status": "cleared"})


async def limits_get(state: MockState, request: Request) -> Response:
    """Limits in force and the usage of every window."""
    with state.lock:
        usage = state.limiter.usage()
    settings = state.settings
    return json_response(
        200,
        {"default": {"rpm": settings.default_rpm, "tpm": settings.default_tpm}, "limits": usage},
    )


async def limits_put(state: MockState, request: Request) -> Response:
    """Set rpm and/or tpm for a workspace, for one model or all."""
    body = await _body(state, request, "admin/limits.json")
    workspace, model = body["workspace"], body.get("model")
    with state.lock:
        rpm, tpm = state.limiter.limits_for(workspace, model or "")
        state.set_limits(workspace, model, body.get("rpm", rpm), body.get("tpm", tpm))
        usage = state.limiter.usage()
    return json_response(200, {"limits": usage})


def _clock_body(state: MockState) -> dict[str, Any]:
    return {"now": state.clock.now(), "frozen": state.clock.frozen}


async def clock_get(state: MockState, request: Request) -> Response:
    """The mock time."""
    return json_response(200, _clock_body(state))


async def clock_post(state: MockState, request: Request) -> Response:
    """Advance, then freeze or unfreeze (same end state; a refused advance changes nothing)."""
    body = await _body(state, request, "admin/clock.json")
    if "advance" in body:
        state.clock.advance(body["advance"])
    if "freeze" in body:
        state.clock.freeze(body["freeze"])
    return json_response(200, _clock_body(state))


async def replies_post(state: MockState, request: Request) -> Response:
    """Queue a scripted reply."""
    body = await _body(state, request, "admin/reply.json")
    match = body.get("match", {})
    with state.lock:
        reply = ScriptedReply(
            id=state.new_id(),
            text=body.get("text"),
            match=ReplyMatch(match.get("assistantId"), match.get("agentId"), match.get("contains")),
            times=body.get("times", 1),
            tools=tuple(body.get("tools", ())),
            output=body.get("output", ABSENT),
        )
        state.script.add(reply)
    return json_response(201, reply.as_json())


async def replies_get(state: MockState, request: Request) -> Response:
    """Scripted replies still queued."""
    with state.lock:
        return json_response(200, {"replies": [r.as_json() for r in state.script.pending()]})


async def replies_clear(state: MockState, request: Request) -> Response:
    """Drop every scripted reply."""
    with state.lock:
        state.script.clear()
    return json_response(200, {"status": "cleared"})


async def faults_post(state: MockState, request: Request) -> Response:
    """Add a fault rule; 201 with its id."""
    body = await read_json(Exchange(request.scope, request.receive), state.settings.max_body_bytes)
    problems = fault_problems(state.bundle, body)
    if problems:
        raise ValidationFailed(problems)
    return json_response(201, add_fault(state, body).as_json())


async def faults_get(state: MockState, request: Request) -> Response:
    """Fault rules in force, with what is left of their ``times``."""
    return json_response(200, {"faults": [rule.as_json() for rule in list_faults(state)]})


async def faults_clear(state: MockState, request: Request) -> Response:
    """Drop every fault rule."""
    clear_faults(state)
    return json_response(200, {"status": "cleared"})


async def fault_delete(state: MockState, request: Request) -> Response:
    """Drop one fault rule."""
    rule_id = request.path_params["fault_id"]
    if not remove_fault(state, rule_id):
        raise NotFound(f"No fault rule {rule_id}")
    return json_response(200, {"status": "deleted", "id": rule_id})


async def coverage(state: MockState, request: Request) -> Response:
    """Operations and statuses exercised since start (or ``?since=reset``), gaps in words."""
    since = request.query_params.get("since", "start")
    if since not in ("start", "reset"):
        raise BadRequest("Query parameter since must be start or reset")
    with state.lock:
        counts = dict(state.run_coverage if since == "start" else state.coverage)
    report = coverage_report(state.bundle, counts)
    text = format_coverage(report)
    if request.query_params.get("format") == "text":
        return Response(text + "\n", 200, media_type="text/plain")
    return json_response(200, {"since": since, **report, "text": text})


async def coverage_clear(state: MockState, request: Request) -> Response:
    """Start counting the run's coverage afresh (reset alone keeps it)."""
    with state.lock:
        state.run_coverage.clear()
    return json_response(200, {"status": "cleared"})


ROUTE_TABLE: tuple[tuple[str, str, AdminHandler], ...] = (
    ("/health", "GET", health),
    ("/reset", "POST", reset),
    ("/keys", "POST", add_key),
    ("/share", "POST", share),
    ("/actions", "POST", add_action),
    ("/requests", "GET", requests_list),
    ("/requests", "DELETE", requests_clear),
    ("/limits", "GET", limits_get),
    ("/limits", "PUT", limits_put),
    ("/clock", "GET", clock_get),
    ("/clock", "POST", clock_post),
    ("/replies", "GET", replies_get),
    ("/replies", "POST", replies_post),
    ("/replies", "DELETE", replies_clear),
    ("/coverage", "GET", coverage),
    ("/coverage", "DELETE", coverage_clear),
    ("/faults", "GET", faults_get),
    ("/faults", "POST", faults_post),
    ("/faults", "DELETE", faults_clear),
    ("/faults/{fault_id}", "DELETE", fault_delete),
    ("/knowledge-folders", "GET", folders_get),
    ("/knowledge-folders", "POST", folders_post),
    ("/knowledge-folders/{folder_id}", "DELETE", folder_delete),
    ("/exports/{file_path:path}", "GET", export_file),
)
"""Every admin route: path under ``/__admin``, method and handler (the reference lists them)."""


def routes(state: MockState, replica: Replica | None = None) -> list[BaseRoute]:
    """Every admin route, bound to ``state``."""
    shared: dict[tuple[str, str], SharedHandler] = {}
    if replica is not None:
        from mockserver.asgi.shared import SHARED as shared  # Reason: a shared store only.
    return [
        Route(
            ADMIN_PREFIX + path,
            _wrap(state, handler, replica, shared.get((path, method))),
            methods=[method],
        )
        for path, method, handler in ROUTE_TABLE
    ]
