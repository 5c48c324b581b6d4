"""SharedStore: the small interface the memory store and the Redis store both implement."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, NamedTuple, Protocol

import orjson

from mockserver.errors import ApiError
from mockserver.ratelimit import Where

__all__ = [
    "REPLY_CLAIM",
    "Charge",
    "Commit",
    "Numbered",
    "Outcome",
    "SharedStore",
    "StoreUnavailable",
    "Sync",
    "Tally",
    "coverage_key",
    "parse_coverage",
    "reply_used",
]

REPLY_CLAIM = "reply:"
"""A scripted reply's claims are counted under this prefix and its id (fault rules': fault:)."""


class StoreUnavailable(ApiError):
    """503: the shared store did not answer in time; the request changed nothing it can know of."""

    status = 503


class Charge(NamedTuple):
    """One API request's claim on a window: the limits in force and its tokens.

    The window is the workspace's and model's, and the API key's where the profile counts by
    key (2026; ``key`` None otherwise). ``prompt`` must fit the window's room for the request to
    be allowed; ``total`` (prompt plus reply) is what an allowed request is charged.
    """

    workspace: str
    model: str
    key: str | None
    rpm: int
    tpm: int
    prompt: int
    total: int


Numbered = Literal["request", "change", "read"]
"""What a sync numbers: an API request, an admin change (each in an order of its own), or
nothing (a read)."""


class Sync(NamedTuple):
    """What a replica learns before handling a request.

    ``epoch`` changes on every reset; ``number`` is the request's place in the one order of all
    requests to the namespace (or the admin change's in the order of changes; 0 for a read);
    ``ops`` are the state changes since ``cursor`` (from 0 when the epoch changed), in the order
    they were committed; ``usage``, when asked for, the served completions' sums this epoch:
    (requests, input tokens, output tokens) by usage key (``Tally.key``).
    """

    epoch: int
    number: int
    cursor: int
    ops: tuple[bytes, ...]
    usage: dict[str, tuple[int, int, int]] | None = None


class Tally(NamedTuple):
    """A served completion's usage as a shared store sums it: one request, its tokens, by
    ``key`` (what the usage export groups by, encoded by the replica; no spaces needed)."""

    key: str
    input_tokens: int
    output_tokens: int


class Commit(NamedTuple):
    """One request's changes, committed together or not at all.

    ``charge`` is checked and charged first (a refusal commits nothing else); ``reply`` names a
    scripted reply (id, times) the request served, which must be one of its first ``times``
    uses this epoch (else nothing is committed and the outcome's reason is ``"reply"``); then
    ``ops``, the ``tally`` op, the journal ``entry`` and the ``coverage`` count are added.

    ``tally`` is a served completion's usage. It changes no answer: the store sums it apart
    from the ops, and a replica reads the sums only to answer a usage export (``begin``'s
    ``usage``).
    """

    epoch: int
    now: float
    charge: Charge | None = None
    ops: Sequence[bytes] = ()
    entry: bytes | None = None
    coverage: str | None = None
    reply: tuple[str, int] | None = None
    tally: Tally | None = None


class Outcome(NamedTuple):
    """A commit's result: whether the charge was allowed, with what the rate headers report.

    ``used_requests``/``used_tokens`` are the window's usage after the commit (before it, on a
    refusal); ``retry_after`` is set on a refusal; ``reason`` is ``"requests"`` or ``"tokens"``
    for a refused charge and ``"reply"`` for a scripted reply already used up.
    """

    allowed: bool
    reason: str
    used_requests: int
    used_tokens: int
    retry_after: float
    seq: int


class SharedStore(Protocol):
    """The state every replica of one namespace sees the same: one order of requests and changes.

    Every method is atomic: a commit's check of the window, its charge, its journal entry and
    its state changes happen together or (on a refusal) not at all.
    """

    name: str

    async def begin(
        self, epoch: int, cursor: int, numbered: Numbered = "request", usage: bool = False
    ) -> Sync:
        """Number this request (or admin change) and hand over the state changes not yet seen
        (and, with ``usage``, the usage sums of the served completions)."""
        ...

    async def commit(self, commit: Commit) -> Outcome:
        """Commit one request's changes atomically (see ``Commit``)."""
        ...

    async def serve(
        self, commit: Commit, read_at: int, since: int, fetch: bool = True
    ) -> tuple[Sync, Outcome | None]:
        """``begin`` and ``commit`` at once, for a request answered from the state at ``read_at``.

        The request is numbered; it is committed only if no op came after ``read_at`` (each
        can change an answer) and the epoch is the commit's. None instead of an
        outcome when not: nothing was committed, and the request is to be answered again, under
        the number the sync gives, and committed. The sync hands over the ops past ``since``
        (the replica's cursor now) as ``begin`` does; on a commit allowed only if ``fetch``.
        """
        ...

    async def journal(self) -> list[tuple[int, bytes]]:
        """The journal, oldest first, as (seq, entry)."""
        ...

    async def last_seq(self) -> int:
        """The newest journal sequence number handed out."""
        ...

    async def clear_journal(self) -> None:
        """Forget every journal entry (the sequence goes on)."""
        ...

    async def usage(self, now: float) -> dict[Where, tuple[int, int]]:
        """Requests and tokens in every live window."""
        ...

    async def coverage(self, since_reset: bool) -> dict[str, int]:
        """Counts by ``operation status`` since the last reset, or of the whole run."""
        ...

    async def clear_run_coverage(self) -> None:
        """Start the run's coverage afresh."""
        ...

    async def reset(self, ops: list[bytes]) -> int:
        """Clear the namespace (not the run's coverage), start a new epoch with ``ops``."""
        ...

    async def claim(self, epoch: int, name: str, limit: int) -> bool:
        """One of the first ``limit`` claims of ``name`` this epoch (a refusal counts nothing)."""
        ...

    async def claims(self) -> dict[str, int]:
        """How often each name was claimed this epoch."""
        ...

    async def ping(self) -> bool:
        """Whether the store answers."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...


def coverage_key(operation: str, status: int) -> str:
    """How a coverage count is keyed in a store."""
    return f"{operation} {status}"


def parse_coverage(counts: dict[str, int]) -> dict[tuple[str, int], int]:
    """A store's coverage counts as MockState keys them."""
    parsed: dict[tuple[str, int], int] = {}
    for key, count in counts.items():
        operation, _, status = key.rpartition(" ")
        parsed[(operation, int(status))] = count
    return parsed


def reply_used(reply_id: str, used: int) -> bytes:
    """The change that tells every replica a scripted reply was used ``used`` times this epoch.

    The Redis store's commit script writes the same JSON object.
    """
    return orjson.dumps({"op": "reply-used", "id": reply_id, "used": used})
