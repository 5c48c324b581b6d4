"""What the inspector page reads, as JSON: journal rows and pages, one exchange, limits, state."""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, NamedTuple

import orjson

from mockserver.api.frames import FRAMES
from mockserver.auth import mask
from mockserver.clock import isoformat
from mockserver.contract.coverage import coverage_report
from mockserver.faults.rules import list_faults
from mockserver.journal import JournalEntry
from mockserver.ratelimit import WINDOW_SECONDS
from mockserver.state import MockState

__all__ = [
    "PAGE_SIZE",
    "Filter",
    "coverage_view",
    "detail",
    "limits_view",
    "page",
    "row",
    "state_view",
]

PAGE_SIZE = 100
"""Rows per page of the journal: the page never holds the whole journal."""
MAX_PAGE = 500

# Request headers whose values are secrets (or may be): shown masked, never in clear.
_SECRET_HEADERS = ("authorization", "cookie", "x-admin-token", "x-api-key", "proxy-authorization")
# Headers a curl line does without (curl sets them itself or they describe this one connection).
_CURL_SKIPS = {"host", "content-length", "connection", "accept-encoding", "user-agent", "cookie"}
_CLASSES = {"2xx": (200, 300), "3xx": (300, 400), "4xx": (400, 500), "5xx": (500, 600)}


class Filter(NamedTuple):
    """The page's filters: status class (``"4xx"``), operation, workspace and free text."""

    status: str = ""
    operation: str = ""
    workspace: str = ""
    text: str = ""

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> Filter:
        """From the query of a page or events request (unknown classes match nothing)."""
        return cls(
            query.get("status", ""),
            query.get("operation", ""),
            query.get("workspace", ""),
            query.get("q", "").strip().lower(),
        )

    def matches(self, entry: JournalEntry) -> bool:
        """Whether ``entry`` passes every given filter."""
        if self.status:
            low, high = _CLASSES.get(self.status, (0, 0))
            if not low <= entry.status < high:
                return False
        if self.operation and entry.operation != self.operation:
            return False
        if self.workspace and entry.workspace != self.workspace:
            return False
        if self.text:
            summary = " ".join(
                str(part)
                for part in (entry.method, entry.path, entry.operation, entry.status, entry.model)
            )
            if self.text not in summary.lower() and self.text not in _dumps(entry.body).lower():
                return False
        return True


def _dumps(value: Any) -> str:
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except (orjson.JSONEncodeError, TypeError):  # nested deeper than orjson writes
        return "<too deeply nested to show>"


def _model(entry: JournalEntry) -> str | None:
    if entry.model is not None:
        return entry.model
    body = entry.body
    model = body.get("model") if isinstance(body, dict) else None
    return model if isinstance(model, str) else None


def row(entry: JournalEntry) -> dict[str, Any]:
    """One journal line: what the list shows, with counts for its badges."""
    return {
        "seq": entry.seq,
        "time": isoformat(entry.time),
        "method": entry.method,
        "path": entry.path,
        "operation": entry.operation,
        "status": entry.status,
        "workspace": entry.workspace,
        "key": entry.key,
        "model": _model(entry),
        "ms": round(entry.elapsed * 1000, 2),
        "warnings": len(entry.warnings),
        "issues": len(entry.errors),
        "fault": entry.fault,
        "failure": entry.error is not None,
    }


def page(
    state: MockState, flt: Filter, before: int | None, limit: int = PAGE_SIZE
) -> dict[str, Any]:
    """Up to ``limit`` matching rows, newest first, below seq ``before``; and the cursors."""
    limit = max(1, min(limit, MAX_PAGE))
    with state.lock:
        journal = state.journal
        chosen: list[JournalEntry] = []
        for entry in journal.newest(before):
            if flt.matches(entry):
                chosen.append(entry)
                if len(chosen) > limit:
                    break
        last = journal.last_seq
        kept = len(journal)
    more = len(chosen) > limit
    rows = [row(entry) for entry in chosen[:limit]]
    return {"rows": rows, "last": last, "kept": kept, "more": more}


def _headers(raw: Iterable[tuple[bytes, bytes]]) -> list[list[str]]:
    shown = []
    for name, value in raw:
        text_name = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        if text_name in _SECRET_HEADERS:
            scheme, _, secret = text.partition(" ")
            text = f"{scheme} {mask(secret.strip())}" if secret else mask(text)
        shown.append([text_name, text])
    return shown


def _response_body(response: Any) -> tuple[Any, str]:
    body = getattr(response, "body", None)
    if not isinstance(body, bytes | bytearray | memoryview):
        return None, "none"
    try:
        return orjson.loads(body), "json"
    except orjson.JSONDecodeError:
        return bytes(body).decode("utf-8", "replace"), "text"


def _events(state: MockState, entry: JournalEntry) -> list[str] | None:
    completion = entry.stream
    if completion is None:
        return None
    frames = FRAMES[completion.family](completion, state.settings.stream_chunk_chars)
    return [frame if isinstance(frame, str) else orjson.dumps(frame).decode() for frame in frames]


def _curl(entry: JournalEntry, headers: list[list[str]], with_variable: bool) -> str:
    host = next((value for name, value in headers if name == "host"), "127.0.0.1:8080")
    query = "&".join(f"{k}={v}" for k, v in entry.query.items())
    url = f"http://{host}{entry.path}" + (f"?{query}" if query else "")
    parts = ["curl", "-X", entry.method, shlex.quote(url)]
    for name, value in headers:
        if name in _CURL_SKIPS:
            continue
        if name == "authorization" and with_variable:
            parts += ["-H", '"Authorization: Bearer $LANGDOCK_API_KEY"']
        else:
            parts += ["-H", shlex.quote(f"{name}: {value}")]
    if entry.body is not None and entry.method not in ("GET", "HEAD") and entry.operation:
        content_type = next((v for n, v in headers if n == "content-type"), "")
        if "json" in content_type:
            parts += ["--data-raw", shlex.quote(_dumps(entry.body))]
    return " ".join(parts)


def detail(state: MockState, entry: JournalEntry) -> dict[str, Any]:
    """One exchange in full: headers and bodies, issues at their paths, the stream's events."""
    headers = _headers(entry.headers)
    response = entry.response
    body, kind = _response_body(response)
    events = _events(state, entry)
    if events is not None:
        kind = "events"
    body_text = _dumps(entry.body)
    return {
        **row(entry),
        "query": entry.query,
        "request": {
            "headers": headers,
            # Round-tripped so a body nested past orjson's depth still reaches the page.
            "body": entry.body if not body_text.startswith("<") else body_text,
        },
        "issues": [issue.as_json() for issue in entry.errors],
        "dropped": [issue.as_json() for issue in entry.warnings],
        "response": {
            "status": entry.status,
            "headers": _headers(getattr(response, "raw_headers", ())),
            "kind": kind,
            "body": body,
            "events": events,
        },
        "failure": entry.error,
        "curl": {"masked": _curl(entry, headers, False), "variable": _curl(entry, headers, True)},
    }


def _series(
    entries: list[tuple[float, int, int]], refused: list[float], now: float
) -> dict[str, list[Any]]:
    # Step data over the last window: requests and tokens counted so far at each moment.
    points: list[tuple[float, int, int, bool]] = [(t, n, c, False) for t, n, c in entries]
    points += [(t, 0, 0, True) for t in refused]
    points.sort(key=lambda point: point[0])
    xs: list[float] = [-WINDOW_SECONDS]
    requests: list[int] = [0]
    tokens: list[int] = [0]
    marks: list[int | None] = [None]
    used_requests = used_tokens = 0
    for moment, count, cost, is_refusal in points:
        used_requests += count
        used_tokens += cost
        xs.append(round(moment - now, 3))
        requests.append(used_requests)
        tokens.append(used_tokens)
        marks.append(used_requests if is_refusal else None)
    xs.append(0.0)
    requests.append(used_requests)
    tokens.append(used_tokens)
    marks.append(None)
    return {"x": xs, "requests": requests, "tokens": tokens, "refused": marks}


def limits_view(state: MockState) -> dict[str, Any]:
    """Each workspace and model: RPM and TPM used of the limit over the last window, 429s.

    Pairs the journal still remembers stay on the chart at zero once their window empties.
    """
    with state.lock:
        now = state.clock.now()
        windows = state.limiter.history()
        since = now - WINDOW_SECONDS
        refusals: dict[tuple[str, str], list[float]] = {}
        for entry in state.journal.newest():  # every pair the journal saw, its 429s in window
            if entry.workspace is None or entry.model is None:
                continue
            marks = refusals.setdefault((entry.workspace, entry.model), [])
            if entry.status == 429 and entry.time > since:
                marks.append(entry.time)
        limits = {(w, m): state.limiter.limits_for(w, m) for w, m in refusals}
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for workspace, model, rpm, tpm, entries in windows:
        rows[(workspace, model)] = {"rpm": rpm, "tpm": tpm, "entries": entries}
    for key, (rpm, tpm) in limits.items():
        rows.setdefault(key, {"rpm": rpm, "tpm": tpm, "entries": []})
    out = []
    for (workspace, model), data in sorted(rows.items()):
        marks = refusals.get((workspace, model), [])
        series = _series(data["entries"], marks, now)
        out.append(
            {
                "workspace": workspace,
                "model": model,
                "rpm": data["rpm"],
                "tpm": data["tpm"],
                "requests": series["requests"][-1],
                "tokens": series["tokens"][-1],
                "refused": len(marks),
                "series": series,
            }
        )
    return {
        "now": isoformat(now),
        "window": WINDOW_SECONDS,
        "enabled": state.settings.rate_limits,
        "limits": out,
    }


def _records(state: MockState) -> Iterator[dict[str, Any]]:
    for record in state.store.records.values():
        active = record.active()
        yield {
            "workspace": record.workspace,
            "id": record.id,
            "name": active.get("name"),
            "model": active.get("model"),
            "versions": len(record.versions),
            "disabled": record.disabled,
        }


def state_view(state: MockState) -> dict[str, Any]:
    """Resources and keys per workspace, fault rules, queued replies, the clock."""
    faults = [rule.as_json() for rule in list_faults(state)]
    for rule in faults:
        if "key" in rule["match"]:  # a rule may name a full key: the page gets its mask
            rule["match"]["key"] = mask(rule["match"]["key"])
    with state.lock:
        workspaces: dict[str, dict[str, Any]] = {}

        def workspace(name: str) -> dict[str, Any]:
            return workspaces.setdefault(name, {"id": name, "keys": [], "records": []})

        for key, principal in state.keys.items():
            workspace(principal.workspace)["keys"].append(
                {"key": mask(key), "scopes": sorted(principal.scopes), "admin": principal.admin}
            )
        for record in _records(state):
            workspace(record["workspace"])["records"].append(record)
        replies = [reply.as_json() for reply in state.script.pending()]
        clock = {"now": isoformat(state.clock.now()), "frozen": state.clock.frozen}
        journal = {"kept": len(state.journal), "last": state.journal.last_seq}
    return {
        "clock": clock,
        "workspaces": sorted(workspaces.values(), key=lambda w: w["id"]),
        "faults": faults,
        "replies": replies,
        "journal": journal,
        "operations": sorted(state.bundle.operations),
    }


def coverage_view(state: MockState, since: str) -> dict[str, Any]:
    """The contract coverage report of the run (``since="start"``) or since the last reset."""
    with state.lock:
        counts = dict(state.run_coverage if since == "start" else state.coverage)
    return {"since": since, **coverage_report(state.bundle, counts)}
