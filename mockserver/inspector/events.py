"""The inspector's live feed: new journal rows, resets and clock moves as Server-Sent Events.

The feed looks at the journal a few times a second from its own coroutine, so the API's hot path
does nothing for it: with no page open, no feed runs and nothing is paid at all.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from itertools import takewhile

import anyio
import orjson
from sse_starlette import EventSourceResponse, ServerSentEvent

from mockserver.inspector.views import Filter, row
from mockserver.journal import JournalEntry, RequestJournal
from mockserver.state import MockState

__all__ = ["LIFETIME", "TICK", "feed"]

TICK = 0.25
"""Seconds between two looks at the journal (a server-side read of two numbers)."""
LIFETIME = 300.0
"""Seconds a feed lasts; the browser's EventSource then reconnects from its Last-Event-ID, so
a tab left open never holds a server's shutdown for longer than a feed."""
_BATCH = 200  # rows per event at most: a burst of requests arrives as a few events


def _reading(state: MockState) -> tuple[bool, float | None]:
    clock = state.clock
    frozen = clock.frozen
    return frozen, clock.now() if frozen else None  # a running clock moves: the page ticks it


def _newer(journal: RequestJournal, seq: int) -> list[JournalEntry]:
    # Newest first, up to what was sent: no scan of the whole journal.
    return list(takewhile(lambda entry: entry.seq > seq, journal.newest()))


async def _events(state: MockState, flt: Filter, since: int) -> AsyncIterator[ServerSentEvent]:
    journal = state.journal
    last = since
    if last > journal.last_seq:  # the journal was reset since the page last saw it
        last = 0
        yield ServerSentEvent(event="reset", data="{}")
    clock = _reading(state)
    for _ in range(int(LIFETIME / TICK)):
        with state.lock:
            current = state.journal
            if current is not journal:
                journal, last = current, 0
                reset = True
            else:
                reset = False
            fresh = _newer(journal, last) if journal.last_seq > last else []
            last = journal.last_seq
        if reset:
            yield ServerSentEvent(event="reset", data="{}", id=str(last) if fresh else "0")
        rows = [row(entry) for entry in fresh if flt.matches(entry)]  # newest first
        # Oldest batch first: the page puts each batch (newest first within) on top.
        for start in reversed(range(0, len(rows), _BATCH)):
            batch = rows[start : start + _BATCH]
            yield ServerSentEvent(event="rows", data=orjson.dumps(batch).decode(), id=str(last))
        if fresh and not rows:
            yield ServerSentEvent(event="cursor", data=str(last), id=str(last))
        now = _reading(state)
        if now != clock or fresh or reset:
            clock = now
            yield ServerSentEvent(event="state", data="{}")
        await anyio.sleep(TICK)


def feed(state: MockState, flt: Filter, since: int) -> EventSourceResponse:
    """The SSE response: rows newer than seq ``since`` that pass ``flt``, then live ones."""
    return EventSourceResponse(
        _events(state, flt, since),
        ping=15,  # a comment now and then, so proxies keep an idle feed open
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        send_timeout=10,
    )
