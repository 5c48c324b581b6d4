"""MemoryStore: the shared-store interface inside one process (the reference for the Redis one)."""

from __future__ import annotations

from collections import deque

from mockserver.ratelimit import Where, Window, count
from mockserver.stores.base import REPLY_CLAIM, Commit, Numbered, Outcome, Sync, reply_used

__all__ = ["MemoryStore"]


class MemoryStore:
    """What RedisStore keeps in Redis, kept in this process: one replica's worth of sharing.

    The serving path of ``--store memory`` keeps its state in MockState directly (no awaits on
    the hot path); this class holds the same semantics behind the same interface, so both stores
    are tested by one suite.
    """

    name = "memory"

    def __init__(self, journal_size: int, initial: list[bytes]) -> None:
        self._journal_size = journal_size
        self._initial = list(initial)
        self._epoch = 1
        self._number = self._changes = 0
        self._ops: list[bytes] = list(initial)
        self._usage: dict[str, tuple[int, int, int]] = {}  # by usage key: the export's alone
        self._journal: deque[tuple[int, bytes]] = deque(maxlen=journal_size)
        self._seq = 0
        self._coverage: dict[str, int] = {}
        self._run_coverage: dict[str, int] = {}
        self._windows: dict[Where, Window] = {}
        self._claims: dict[str, int] = {}

    async def begin(
        self, epoch: int, cursor: int, numbered: Numbered = "request", usage: bool = False
    ) -> Sync:
        """Number this request (or admin change) and hand over the state changes not yet seen."""
        number = 0
        if numbered == "request":
            self._number = number = self._number + 1
        elif numbered == "change":
            self._changes = number = self._changes + 1
        ops = tuple(self._ops[cursor if epoch == self._epoch else 0 :])
        sums = dict(self._usage) if usage else None
        return Sync(self._epoch, number, len(self._ops), ops, sums)

    async def serve(
        self, commit: Commit, read_at: int, since: int, fetch: bool = True
    ) -> tuple[Sync, Outcome | None]:
        """``begin`` and ``commit`` at once: a request answered from the state at ``read_at``."""
        self._number += 1
        current = commit.epoch == self._epoch
        outcome = None
        if current and len(self._ops) <= read_at:
            outcome = await self.commit(commit)
        start = since if current else 0
        handed = fetch or outcome is None or not outcome.allowed  # a refusal: always
        ops = tuple(self._ops[start:]) if handed else ()
        return Sync(self._epoch, self._number, start + len(ops), ops), outcome

    async def commit(self, commit: Commit) -> Outcome:
        """Commit one request's changes atomically (see ``Commit``)."""
        used_r = used_t = 0
        epoch, now, charge, ops, entry, coverage, reply, tally = commit
        if reply is not None and self._claims.get(_reply_claim(reply[0]), 0) >= reply[1]:
            return Outcome(False, "reply", 0, 0, 0.0, 0)
        if charge is not None:
            workspace, model, key, rpm, tpm, prompt, total = charge
            where = (workspace, model, key)
            decision = count(self._windows, where, now, rpm, tpm, prompt, total)
            assert decision is not None  # reported: always a Decision
            window = self._windows.get(where)
            used_r, used_t = (window.requests, window.tokens) if window else (0, 0)
            if not decision.allowed:
                return Outcome(False, decision.reason, used_r, used_t, decision.retry_after, 0)
        if epoch != self._epoch:
            return Outcome(True, "", used_r, used_t, 0.0, 0)
        self._ops.extend(ops)
        if tally is not None:
            r, i, o = self._usage.get(tally.key, (0, 0, 0))
            self._usage[tally.key] = (r + 1, i + tally.input_tokens, o + tally.output_tokens)
        if reply is not None:
            name = _reply_claim(reply[0])
            self._claims[name] = used = self._claims.get(name, 0) + 1
            self._ops.append(reply_used(reply[0], used))
        seq = 0
        if entry:
            self._seq = seq = self._seq + 1
            self._journal.append((seq, entry))
        if coverage:
            self._coverage[coverage] = self._coverage.get(coverage, 0) + 1
            self._run_coverage[coverage] = self._run_coverage.get(coverage, 0) + 1
        return Outcome(True, "", used_r, used_t, 0.0, seq)

    async def journal(self) -> list[tuple[int, bytes]]:
        """The journal, oldest first, as (seq, entry)."""
        return list(self._journal)

    async def last_seq(self) -> int:
        """The newest journal sequence number handed out."""
        return self._seq

    async def clear_journal(self) -> None:
        """Forget every journal entry (the sequence goes on)."""
        self._journal.clear()

    async def usage(self, now: float) -> dict[Where, tuple[int, int]]:
        """Requests and tokens in every live window."""
        usage = {}
        for where, window in list(self._windows.items()):
            window.prune(now)
            if window.expiries:
                usage[where] = (window.requests, window.tokens)
            else:
                del self._windows[where]
        return usage

    async def coverage(self, since_reset: bool) -> dict[str, int]:
        """Counts by ``operation status`` since the last reset, or of the whole run."""
        return dict(self._coverage if since_reset else self._run_coverage)

    async def clear_run_coverage(self) -> None:
        """Start the run's coverage afresh."""
        self._run_coverage.clear()

    async def reset(self, ops: list[bytes]) -> int:
        """Clear the namespace (not the run's coverage), start a new epoch with ``ops``."""
        self._epoch += 1
        self._number = self._changes = self._seq = 0
        self._ops = list(ops)
        self._usage = {}
        self._journal.clear()
        self._coverage.clear()
        self._windows.clear()
        self._claims.clear()
        return self._epoch

    async def claim(self, epoch: int, name: str, limit: int) -> bool:
        """One of the first ``limit`` claims of ``name`` this epoch (a refusal counts nothing)."""
        claimed = self._claims.get(name, 0)
        if epoch != self._epoch or claimed >= limit:
            return False
        self._claims[name] = claimed + 1
        return True

    async def claims(self) -> dict[str, int]:
        """How often each name was claimed this epoch."""
        return dict(self._claims)

    async def ping(self) -> bool:
        """Whether the store answers (always, in this process)."""
        return True

    async def close(self) -> None:
        """Nothing to release."""


def _reply_claim(reply_id: str) -> str:
    return REPLY_CLAIM + reply_id
