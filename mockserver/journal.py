"""The request journal: a bounded log of what clients sent and what the mock answered."""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Iterator
from typing import Any, NamedTuple

from mockserver.auth import mask
from mockserver.errors import FieldError

__all__ = ["JournalEntry", "RequestJournal", "Usage", "UsageKey", "fingerprint"]


_MARKS_KEPT = 1024  # every request journals its key; a few keys recur


def fingerprint(key: str) -> str:
    """A one-way id of an API key, so the journal can be filtered by key without storing it."""
    return hashlib.sha256(key.encode()).hexdigest()[:16]


class Usage(NamedTuple):
    """What a served completion used: the model and tokens charged, the assistant or agent."""

    model: str
    input_tokens: int
    output_tokens: int
    target_id: str | None = None  # None: an inline configuration, or the Completion API

    def as_json(self) -> dict[str, Any]:
        """The wire form, in a journal entry's ``usage``."""
        return {
            "model": self.model,
            "inputTokens": self.input_tokens,
            "outputTokens": self.output_tokens,
            "targetId": self.target_id,
        }


class UsageKey(NamedTuple):
    """What served usage is tallied by: the second (mock clock) and who used what."""

    second: int
    workspace: str
    key_id: str
    key_mask: str
    target_id: str | None
    model: str


class JournalEntry(NamedTuple):
    """One request and its answer.

    A named tuple, not a frozen dataclass: as immutable, and built in a fifth of the time (every
    request builds one, through ``RequestJournal.record``'s keywords).
    """

    seq: int
    time: float
    method: str
    path: str
    operation: str | None
    status: int
    body: Any
    query: dict[str, str]
    key: str | None
    key_id: str | None
    workspace: str | None
    warnings: tuple[FieldError, ...]  # unknown fields
    errors: tuple[FieldError, ...]  # what made it a 400
    error: str | None = None
    fault: bool = False  # a fault rule or header chose the answer, not the client's request
    # For the inspector, kept as references to what the request already built (no copies, no
    # encoding on the hot path): read only when someone opens an exchange.
    model: str | None = None  # the model a completion ran on (or was refused for)
    elapsed: float = 0.0  # seconds from the request's arrival to its answer being ready
    headers: tuple[tuple[bytes, bytes], ...] | list[tuple[bytes, bytes]] = ()  # ASGI's, raw
    response: Any = None  # the response as sent: status, raw_headers and body (bytes) if any
    stream: Any = None  # a streamed answer's Completion, whose frames are a pure function of it
    usage: Usage | None = None  # a served completion's (2xx only): what the usage export counts

    def as_json(self) -> dict[str, Any]:
        """The wire form for GET /__admin/requests (the key masked, never in clear)."""
        return {
            "seq": self.seq,
            "time": self.time,
            "method": self.method,
            "path": self.path,
            "operation": self.operation,
            "status": self.status,
            "body": self.body,
            "query": self.query,
            "key": self.key,
            "keyId": self.key_id,
            "workspace": self.workspace,
            "warnings": [warning.message for warning in self.warnings],
            "errors": [error.as_json() for error in self.errors],
            "error": self.error,
            "usage": None if self.usage is None else self.usage.as_json(),
        }


class RequestJournal:
    """Keeps the newest ``size`` entries; ``seq`` keeps counting so ``since`` cursors stay valid.

    Every entry that carries ``usage`` is also added to ``usage``, the tally the usage export
    reads, in ``record`` itself: one call site, so the export and the journal cannot disagree.
    The tally is the journal's entries summed as they were recorded, so it outlives the ring's
    bound (an export of a year must not lose what the newest 1000 entries no longer hold) and
    ``clear``; a reset, which makes a new journal, starts it afresh.
    """

    def __init__(self, size: int) -> None:
        self._entries: deque[JournalEntry] = deque(maxlen=size)
        self._seq = 0
        # [requests, input tokens, output tokens] of the served completions, per UsageKey.
        self.usage: dict[UsageKey, list[int]] = {}
        # Key -> (mask, fingerprint), so a recurring key is hashed once. Kept here, not in a
        # module-level cache: raw keys live only as long as this server's state (reset drops it).
        self._marks: dict[str, tuple[str, str]] = {}

    def key_marks(self, key: str) -> tuple[str, str]:
        """What the journal keeps of a key: its mask and its fingerprint, never the key."""
        marks = self._marks.get(key)
        if marks is None:
            if len(self._marks) >= _MARKS_KEPT:  # a client trying random keys: start over
                self._marks.clear()
            marks = self._marks[key] = (mask(key), fingerprint(key))
        return marks

    def record(
        self,
        *,
        time: float,
        method: str,
        path: str,
        operation: str | None,
        status: int,
        body: Any,
        query: dict[str, str],
        key: str | None,
        key_id: str | None,
        workspace: str | None,
        warnings: tuple[FieldError, ...],
        errors: tuple[FieldError, ...],
        error: str | None,
        fault: bool,
        model: str | None = None,
        elapsed: float = 0.0,
        headers: tuple[tuple[bytes, bytes], ...] | list[tuple[bytes, bytes]] = (),
        response: Any = None,
        stream: Any = None,
        usage: Usage | None = None,
    ) -> None:
        """Number and add an entry (the oldest falls out when full), and tally its ``usage``.

        Keyword-only: neighbours share a type (``key``/``key_id``/``workspace``, the two issue
        tuples), so only a name tells a swap. The entry is then built positionally, right here
        beside the names: a named tuple built with keywords goes through a dict of them.
        """
        self._seq += 1
        if usage is not None and not 200 <= status < 300:
            usage = None  # refused (a contract self-check's 500): not served, so not usage
        entry = JournalEntry(  # positional, in field order: keywords through a class call cost 3x
            self._seq,
            time,
            method,
            path,
            operation,
            status,
            body,
            query,
            key,
            key_id,
            workspace,
            warnings,
            errors,
            error,
            fault,
            model,
            elapsed,
            headers,
            response,
            stream,
            usage,
        )
        self._entries.append(entry)
        if usage is not None:
            self._tally(time, workspace, key_id, key, usage)

    def _tally(
        self,
        time: float,
        workspace: str | None,
        key_id: str | None,
        key: str | None,
        usage: Usage,
    ) -> None:
        tally = UsageKey(
            int(time), workspace or "", key_id or "", key or "", usage.target_id, usage.model
        )
        counts = self.usage.get(tally)
        if counts is None:
            self.usage[tally] = [1, usage.input_tokens, usage.output_tokens]
        else:
            counts[0] += 1
            counts[1] += usage.input_tokens
            counts[2] += usage.output_tokens

    def entries(
        self,
        *,
        path: str | None = None,
        status: int | None = None,
        key: str | None = None,
        since: int = 0,
        operation: str | None = None,
    ) -> list[JournalEntry]:
        """Entries newer than ``since`` that match every given filter, oldest first."""
        key_id = fingerprint(key) if key is not None else None
        return [
            e
            for e in self._entries
            if e.seq > since
            and (path is None or e.path == path)
            and (status is None or e.status == status)
            and (key_id is None or e.key_id == key_id)
            and (operation is None or e.operation == operation)
        ]

    def newest(self, before: int | None = None) -> Iterator[JournalEntry]:
        """Entries newest first, from just below ``before`` (a seq) if given."""
        for entry in reversed(self._entries):
            if before is None or entry.seq < before:
                yield entry

    def find(self, seq: int) -> JournalEntry | None:
        """The entry numbered ``seq``, if it is still kept."""
        entries = self._entries
        if not entries or not entries[0].seq <= seq <= entries[-1].seq:
            return None
        entry = entries[seq - entries[0].seq]  # numbers are consecutive within the deque
        return entry if entry.seq == seq else None

    def clear(self) -> None:
        """Forget every entry and the keys seen (the sequence and the usage tally go on)."""
        self._entries.clear()
        self._marks.clear()

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def last_seq(self) -> int:
        """The newest sequence number handed out."""
        return self._seq

    def copy(self) -> RequestJournal:
        """A copy for snapshots (entries are immutable)."""
        twin = RequestJournal(self._entries.maxlen or 1)
        twin._entries.extend(self._entries)
        twin._seq = self._seq
        twin.usage = {key: list(counts) for key, counts in self.usage.items()}
        return twin
