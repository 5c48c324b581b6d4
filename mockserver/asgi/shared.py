"""Admin routes a shared store answers itself: health, reset, journal, usage, coverage, faults."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import orjson
from starlette.requests import Request
from starlette.responses import Response

from mockserver.asgi.admin import _int_param, _requests_response, health
from mockserver.asgi.responses import json_response
from mockserver.contract.coverage import coverage_report, format_coverage
from mockserver.errors import BadRequest
from mockserver.faults.rules import list_faults
from mockserver.journal import fingerprint
from mockserver.ratelimit import usage_rows
from mockserver.stores.base import parse_coverage
from mockserver.stores.replica import Replica

__all__ = ["SHARED"]


async def store_health(replica: Replica, request: Request) -> Response:
    """Liveness of this process and of the shared store: 503 while the store is down."""
    response = await health(replica.state, request)
    up = await replica.store.ping()
    body = orjson.loads(response.body)
    body["store"] = {
        "kind": "redis",
        "status": "up" if up else "down",
        "writes": getattr(replica.store, "writes", 0),
    }
    if not up:
        body["status"] = "store down"
    return json_response(200 if up else 503, body)


async def reset(replica: Replica, request: Request) -> Response:
    """Back to the start-up configuration, for every replica of the namespace."""
    await replica.reset()
    return json_response(200, {"status": "reset"})


async def requests_list(replica: Replica, request: Request) -> Response:
    """The one journal of every replica, filtered as the memory store's is."""
    params = request.query_params
    path = params.get("path") or None
    status = _int_param(request, "status")
    key = params.get("key") or None
    key_id = fingerprint(key) if key is not None else None
    since = _int_param(request, "since") or 0
    operation = params.get("operation") or None
    items = []
    for seq, raw in await replica.store.journal():
        if seq <= since:
            continue
        item = orjson.loads(raw)
        if (
            (path is None or item["path"] == path)
            and (status is None or item["status"] == status)
            and (key_id is None or item["keyId"] == key_id)
            and (operation is None or item["operation"] == operation)
        ):
            items.append({"seq": seq, **item})
    return _requests_response(items, await replica.store.last_seq())


async def requests_clear(replica: Replica, request: Request) -> Response:
    """Empty the one journal."""
    await replica.store.clear_journal()
    return json_response(200, {"status": "cleared"})


async def limits_get(replica: Replica, request: Request) -> Response:
    """Limits in force and the usage of every window, counted across replicas."""
    await replica.sync("read")
    state = replica.state
    usage = await replica.store.usage(state.clock.now())
    limiter = replica.limiter
    rows = usage_rows(limiter._limits, limiter.limits_for, usage)
    settings = state.settings
    return json_response(
        200,
        {
            "default": {"rpm": settings.default_rpm, "tpm": settings.default_tpm},
            "limits": rows,
        },
    )


async def clock_get(replica: Replica, request: Request) -> Response:
    """The mock time every replica reads."""
    await replica.sync("read")
    clock = replica.state.clock
    return json_response(200, {"now": clock.now(), "frozen": clock.frozen})


async def coverage(replica: Replica, request: Request) -> Response:
    """Coverage of every replica since start (or ``?since=reset``)."""
    since = request.query_params.get("since", "start")
    if since not in ("start", "reset"):
        raise BadRequest("Query parameter since must be start or reset")
    counts = parse_coverage(await replica.store.coverage(since_reset=since == "reset"))
    report = coverage_report(replica.state.bundle, counts)
    text = format_coverage(report)
    if request.query_params.get("format") == "text":
        return Response(text + "\n", 200, media_type="text/plain")
    return json_response(200, {"since": since, **report, "text": text})


async def coverage_clear(replica: Replica, request: Request) -> Response:
    """Start counting the run's coverage afresh, for every replica."""
    await replica.store.clear_run_coverage()
    return json_response(200, {"status": "cleared"})


async def faults_get(replica: Replica, request: Request) -> Response:
    """Fault rules in force, with ``times`` and ``fired`` counted across every replica."""
    await replica.sync("read")
    claims = await replica.store.claims()
    rules = []
    for rule in list_faults(replica.state):
        item = rule.as_json()
        fired = claims.get(f"fault:{rule.id}")
        if fired is not None:
            item["fired"] = fired
            item["times"] = max(0, (replica.times(rule.id) or 0) - fired)
        rules.append(item)
    return json_response(200, {"faults": [r for r in rules if r["times"] != 0]})


SHARED: dict[tuple[str, str], Callable[[Replica, Request], Awaitable[Response]]] = {
    ("/health", "GET"): store_health,
    ("/reset", "POST"): reset,
    ("/requests", "GET"): requests_list,
    ("/requests", "DELETE"): requests_clear,
    ("/limits", "GET"): limits_get,
    ("/clock", "GET"): clock_get,
    ("/coverage", "GET"): coverage,
    ("/coverage", "DELETE"): coverage_clear,
    ("/faults", "GET"): faults_get,
}
