"""Server time to open the inspector on a full journal, and what its other requests cost.

Fills an in-process app's journal with ``--entries`` requests (completions, 400s, streams, 404s
and 429s, as a test run makes them), then times, in process and without HTTP, each request the
page makes when it opens (the page, its files, the first page of rows, state, limits), the ones
it makes later (coverage, an exchange in full, the oldest page, a text search that scans every
body) and a live feed's first look at the journal. Each figure is the median CPU time of
``--rounds`` repetitions.

    python bench/inspector.py                  # 10,000 entries (~20 s)
    python bench/inspector.py --entries 1000

The hot path's cost with no page open is not timed here: ``bench/instructions.py`` counts it
exactly, before and after the journal kept what the page reads (bench/README.md).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from collections.abc import Sequence
from typing import Any

App = Any

_KEY = b"Bearer sk-ld-mock"
_GOOD = {
    "assistant": {"name": "Bench", "instructions": "Be brief."},
    "messages": [{"role": "user", "content": "hello"}],
}


def _scope(method: str, path: str, query: str = "", body: bytes = b"") -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [
            (b"host", b"127.0.0.1:8080"),
            (b"authorization", _KEY),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8080),
        "state": {},
    }


async def _call(app: App, method: str, path: str, query: str = "", body: bytes = b"") -> int:
    status = 0
    delivered = False
    done = asyncio.Event()

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        await done.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(_scope(method, path, query, body), receive, send)
    done.set()
    return status


def _fill(app: App, loop: asyncio.AbstractEventLoop, entries: int) -> None:
    good = json.dumps(_GOOD).encode()
    bad = json.dumps({"messages": "bad", "extra": 1}).encode()
    stream = json.dumps({**_GOOD, "stream": True}).encode()
    bodies = [good, good, bad, stream, good]
    path = "/assistant/v1/chat/completions"
    for number in range(entries):
        if number % 50 == 49:
            loop.run_until_complete(_call(app, "GET", "/nowhere"))
        else:
            loop.run_until_complete(_call(app, "POST", path, body=bodies[number % len(bodies)]))


def _feed_look(app: App) -> float:
    """CPU seconds of a live feed's first look at a journal with one new entry."""
    from mockserver.inspector.events import _events
    from mockserver.inspector.views import Filter

    state = app.state.mock

    async def first() -> None:
        source = _events(state, Filter(), state.journal.last_seq - 1)
        await anext(source)
        await source.aclose()

    loop = asyncio.new_event_loop()
    began = time.process_time()
    loop.run_until_complete(first())
    spent = time.process_time() - began
    loop.close()
    return spent


def _seq_of(journal: Any, status: int, *, stream: bool = False) -> int:
    return next(
        e.seq for e in journal.newest() if e.status == status and (e.stream is not None) == stream
    )


def _close(loop: asyncio.AbstractEventLoop) -> None:
    # Streams leave sse-starlette's shutdown watchers behind: cancel them before closing.
    pending = asyncio.all_tasks(loop)
    for task in pending:
        task.cancel()
    loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
    loop.close()


def measure(entries: int, rounds: int) -> dict[str, Any]:
    """Median CPU milliseconds of each inspector request on a journal of ``entries``."""
    from mockserver import create_app
    from mockserver.config import Settings

    app = create_app(Settings(journal_size=entries, default_rpm=entries // 3, freeze_clock=True))
    loop = asyncio.new_event_loop()
    began = time.process_time()
    _fill(app, loop, entries)
    fill_ms = (time.process_time() - began) * 1000
    journal = app.state.mock.journal
    if len(journal) != entries:
        raise RuntimeError(f"journal holds {len(journal)} entries, not {entries}")
    ui = "/__admin/ui"
    oldest = journal.last_seq - entries + PAGE_ROWS
    opening = [
        ("page", ui, ""),
        ("inspector.js", ui + "/static/inspector.js", ""),
        ("inspector.css", ui + "/static/inspector.css", ""),
        ("uPlot.iife.min.js", ui + "/static/uPlot.iife.min.js", ""),
        ("uPlot.min.css", ui + "/static/uPlot.min.css", ""),
        ("first 100 rows", ui + "/api/entries", ""),
        ("state", ui + "/api/state", ""),
        ("limits", ui + "/api/limits", ""),
    ]
    later = [
        ("coverage", ui + "/api/coverage", ""),
        ("one 400 in full", f"{ui}/api/entries/{_seq_of(journal, 400)}", ""),
        ("one stream in full", f"{ui}/api/entries/{_seq_of(journal, 200, stream=True)}", ""),
        ("oldest 100 rows", ui + "/api/entries", f"before={oldest}"),
        ("4xx filter", ui + "/api/entries", "status=4xx"),
        ("text search, no match", ui + "/api/entries", "q=no-such-text"),
    ]
    figures: dict[str, float] = {}
    for name, path, query in opening + later:
        samples = []
        for _ in range(rounds):
            start = time.process_time()
            status = loop.run_until_complete(_call(app, "GET", path, query))
            samples.append((time.process_time() - start) * 1000)
            if status != 200:
                raise RuntimeError(f"{name}: HTTP {status}")
        figures[name] = round(statistics.median(samples), 3)
    figures["live feed, first look"] = round(
        statistics.median(_feed_look(app) * 1000 for _ in range(rounds)), 3
    )
    _close(loop)
    opened = sum(figures[name] for name, _, _ in opening)
    return {
        "entries": entries,
        "fill_ms": round(fill_ms),
        "open_ms": round(opened, 2),
        "requests_ms": figures,
    }


PAGE_ROWS = 100


def main(argv: Sequence[str] | None = None) -> int:
    """Print the figures as a table (or JSON)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=10_000, help="Journal entries (10000).")
    parser.add_argument("--rounds", type=int, default=15, help="Repetitions per request (15).")
    parser.add_argument("--json", action="store_true", help="Print the figures as JSON.")
    args = parser.parse_args(argv)
    figures = measure(args.entries, args.rounds)
    if args.json:
        sys.stdout.write(json.dumps(figures) + "\n")
        return 0
    lines = [f"journal of {figures['entries']} entries (filled in {figures['fill_ms']} ms CPU)"]
    lines += [f"  {name:24} {ms:8.3f} ms" for name, ms in figures["requests_ms"].items()]
    lines.append(f"opening the page, server CPU in all: {figures['open_ms']} ms")
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
