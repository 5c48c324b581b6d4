"""Sliding 60-second windows of requests and tokens, per workspace and model, on the mock clock.

Profile ``seed`` counts per workspace and model, as the 2025 docs say; profile ``2026`` per
workspace, model and API key, as the current docs say: the caller passes ``key`` to count by.
"""

from __future__ import annotations

import copy
import math
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple, overload

from mockserver.clock import Clock
from mockserver.config import LimitSpec
from mockserver.journal import fingerprint

__all__ = [
    "PRUNE_EVERY",
    "WINDOW_SECONDS",
    "Decision",
    "RateLimiter",
    "Where",
    "Window",
    "count",
    "estimate_tokens",
    "usage_rows",
]

WINDOW_SECONDS = 60.0
# Every this many acquisitions, every window is swept; between sweeps a window is pruned only
# when its own workspace and model are used, which keeps the hot path O(1).
PRUNE_EVERY = 1024

Where = tuple[str, str, str | None]
"""A window's place: workspace, model and the API key counted by (None: the workspace's)."""


def estimate_tokens(characters: int, chars_per_token: int = 4) -> int:
    """ceil(characters / chars_per_token): the documented estimate."""
    return -(-characters // chars_per_token)


class Decision(NamedTuple):
    """The limiter's answer, with what the optional rate-limit headers report.

    ``reason`` is ``""`` when allowed, else ``"requests"`` or ``"tokens"``; ``needed`` is the
    prompt's tokens, which a refusal for tokens names when no window could ever hold them.
    Built with keywords: six neighbours are numbers, which only a name tells apart.
    """

    allowed: bool
    reason: str
    rpm: int
    tpm: int
    remaining_requests: int
    remaining_tokens: int
    retry_after: float
    needed: int = 0

    @classmethod
    def allow(
        cls, rpm: int, tpm: int, remaining_requests: int, remaining_tokens: int, needed: int
    ) -> Decision:
        """An allowed request's decision, with what is left of its window."""
        return cls(
            allowed=True,
            reason="",
            rpm=rpm,
            tpm=tpm,
            remaining_requests=remaining_requests,
            remaining_tokens=remaining_tokens,
            retry_after=0.0,
            needed=needed,
        )

    def headers(self) -> dict[str, str]:
        """Retry-After (on refusal) and X-RateLimit-* for the --rate-limit-headers setting."""
        headers = {
            "X-RateLimit-Limit-Requests": str(self.rpm),
            "X-RateLimit-Remaining-Requests": str(self.remaining_requests),
            "X-RateLimit-Limit-Tokens": str(self.tpm),
            "X-RateLimit-Remaining-Tokens": str(self.remaining_tokens),
        }
        if not self.allowed:
            headers["Retry-After"] = str(max(1, math.ceil(self.retry_after)))
        return headers

    def message(self, model: str) -> str:
        """The 429 body's message."""
        where = f"for model {model} in this workspace"
        if self.reason == "requests":
            return f"Rate limit exceeded: {self.rpm} requests per minute {where}"
        if self.needed > self.tpm:
            return (
                f"Rate limit exceeded: the prompt's {self.needed} tokens are more than the "
                f"{self.tpm} tokens per minute {where}"
            )
        return f"Rate limit exceeded: {self.tpm} tokens per minute {where}"


@dataclass(slots=True)
class Window:
    """Counted requests of one workspace and model, oldest first.

    Entry ``i`` is ``(expiries[i], counts[i], costs[i])``: when it leaves, how many requests and
    how many tokens. Requests at the same instant (a frozen clock) share one entry, so a frozen
    clock costs one entry however many requests it sees. Three deques of numbers, not one of
    lists: a busy minute holds an entry per request, and numbers cost neither a list each nor
    garbage-collector time.
    """

    expiries: deque[float] = field(default_factory=deque)
    counts: deque[int] = field(default_factory=deque)
    costs: deque[int] = field(default_factory=deque)
    requests: int = 0
    tokens: int = 0

    def prune(self, now: float) -> None:
        # A request leaves the window exactly 60 s after it was counted: expiry <= now.
        expiries = self.expiries
        while expiries and expiries[0] <= now:
            expiries.popleft()
            self.requests -= self.counts.popleft()
            self.tokens -= self.costs.popleft()

    def add(self, now: float, tokens: int) -> None:
        expiry = now + WINDOW_SECONDS
        expiries = self.expiries
        if expiries and expiries[-1] == expiry:
            self.counts[-1] += 1
            self.costs[-1] += tokens
        else:
            expiries.append(expiry)
            self.counts.append(1)
            self.costs.append(tokens)
        self.requests += 1
        self.tokens += tokens

    def token_retry(self, now: float, tpm: int, needed: int) -> float:
        """Seconds until enough tokens leave for ``needed`` more (a window if never)."""
        used = self.tokens
        for expiry, tokens in zip(self.expiries, self.costs, strict=True):
            used -= tokens
            if needed <= tpm - used:
                return float(expiry) - now
        return WINDOW_SECONDS


class RateLimiter:
    """Requests and tokens per minute per (workspace, model), read off an injected clock.

    Not thread-safe alone: MockState calls it under its lock, so check-and-count is atomic.
    Limits resolve as (workspace, model), then (workspace, every model), then the defaults;
    a window is kept per (workspace, model, key), ``key`` None where keys share the window.
    """

    def __init__(self, clock: Clock, rpm: int, tpm: int) -> None:
        self._clock = clock
        self._default = (rpm, tpm)
        self._limits: dict[tuple[str, str | None], tuple[int, int]] = {}
        self._windows: dict[Where, Window] = {}
        self._until_sweep = PRUNE_EVERY

    def __deepcopy__(self, memo: dict[int, Any]) -> RateLimiter:
        # The clock belongs to the server, not to the snapshot: share it, copy the counts.
        twin = RateLimiter(self._clock, *self._default)
        twin._limits = dict(self._limits)
        twin._windows = copy.deepcopy(self._windows, memo)
        return twin

    def set_limits(
        self, workspace: str, model: str | None, rpm: int | None, tpm: int | None
    ) -> None:
        """Limits for one model of a workspace, or for all its models (``model=None``).

        ``None`` keeps the limit in force. Setting all models replaces the per-model limits the
        workspace had.
        """
        current_rpm, current_tpm = self.limits_for(workspace, model)
        if model is None:
            for key in [k for k in self._limits if k[0] == workspace]:
                del self._limits[key]
        self._limits[(workspace, model)] = (
            current_rpm if rpm is None else rpm,
            current_tpm if tpm is None else tpm,
        )

    def configure(self, limits: Iterable[LimitSpec]) -> None:
        """Apply start-up limits: every workspace-wide one first, so a per-model one always wins."""
        for spec in sorted(limits, key=lambda spec: spec.model is not None):
            self.set_limits(spec.workspace, spec.model, spec.rpm, spec.tpm)

    def limits_for(self, workspace: str, model: str | None) -> tuple[int, int]:
        """The (rpm, tpm) in force for a workspace and model (``None``: the workspace's)."""
        limits = self._limits
        found = limits.get((workspace, model))
        if found is None:
            found = limits.get((workspace, None), self._default)
        return found

    @overload
    def acquire(
        self,
        workspace: str,
        model: str,
        prompt_tokens: int,
        total_tokens: int,
        *,
        report: Literal[True] = True,
        key: str | None = None,
        now: float | None = None,
    ) -> Decision: ...

    @overload
    def acquire(
        self,
        workspace: str,
        model: str,
        prompt_tokens: int,
        total_tokens: int,
        *,
        report: bool,
        key: str | None = None,
        now: float | None = None,
    ) -> Decision | None: ...

    def acquire(
        self,
        workspace: str,
        model: str,
        prompt_tokens: int,
        total_tokens: int,
        *,
        report: bool = True,
        key: str | None = None,
        now: float | None = None,
    ) -> Decision | None:
        """Count one request of ``total_tokens`` if the window has room for it and its prompt.

        A refused request counts nothing. The completion part of ``total_tokens`` may take the
        window over its token limit, as a reply is only measured once written; the next
        request then waits for the excess to leave. With ``report=False`` an allowed request
        returns None instead of its Decision (what the headers would say), which most
        completions never read. ``key`` counts the request in that API key's own window.
        ``now``: the clock's reading where the caller took one already (a reply's timestamp).
        """
        self._until_sweep -= 1
        if self._until_sweep <= 0:
            self.prune()
        limits = self._limits
        if limits:  # none configured is the common case: the defaults, without two lookups
            rpm, tpm = (
                limits.get((workspace, model)) or limits.get((workspace, None)) or self._default
            )
        else:
            rpm, tpm = self._default
        where = (workspace, model, key)
        return self._count(where, rpm, tpm, prompt_tokens, total_tokens, report, now)

    def _count(
        self,
        where: Where,
        rpm: int,
        tpm: int,
        prompt: int,
        total: int,
        report: bool,
        now: float | None = None,
    ) -> Decision | None:
        # Where the charge is made: here, in this process's windows (a shared store's limiter
        # leaves it for the store's commit instead).
        if now is None:
            now = self._clock.now()
        return count(self._windows, where, now, rpm, tpm, prompt, total, report)

    def usage(self) -> list[dict[str, Any]]:
        """Limits and current usage of every configured limit and every live window."""
        self.prune()
        used = {where: (w.requests, w.tokens) for where, w in self._windows.items()}
        return usage_rows(self._limits, self.limits_for, used)

    def history(self) -> list[tuple[str, str, int, int, list[tuple[float, int, int]]]]:
        """Read-only: each live window's limits and entries as (counted at, requests, tokens).

        For the inspector's chart; copies what it returns, so callers under the lock may let go.
        The workspace's windows only: a key's own window (profile 2026) is not charted.
        """
        self.prune()
        return [
            (
                workspace,
                model,
                *self.limits_for(workspace, model),
                [
                    (expiry - WINDOW_SECONDS, count, cost)
                    for expiry, count, cost in zip(
                        window.expiries, window.counts, window.costs, strict=True
                    )
                ],
            )
            for (workspace, model), window in sorted(
                ((w, m), window) for (w, m, key), window in self._windows.items() if key is None
            )
        ]

    def prune(self) -> None:
        """Drop expired entries and empty windows, so memory stays bounded."""
        self._until_sweep = PRUNE_EVERY
        now = self._clock.now()
        for key, window in list(self._windows.items()):
            window.prune(now)
            if not window.expiries:
                del self._windows[key]

    def size(self) -> tuple[int, int]:
        """How many windows and window entries are held (for memory checks)."""
        return len(self._windows), sum(len(w.expiries) for w in self._windows.values())

    def clear_usage(self) -> None:
        """Forget every counted request (limits stay)."""
        self._windows.clear()


def count(
    windows: dict[Where, Window],
    where: Where,
    now: float,
    rpm: int,
    tpm: int,
    prompt: int,
    total: int,
    report: bool = True,
) -> Decision | None:
    """Count one request of ``total`` tokens in ``windows[where]`` if it has room for ``prompt``.

    The one sliding-window decision of both the in-process limiter and the memory store's.
    """
    window = windows.get(where)
    if window is None:
        window = Window()  # kept only once it counts a request: refusals leave no trace
    elif window.expiries and window.expiries[0] <= now:
        window.prune(now)
    used_requests, used_tokens = window.requests, window.tokens
    if used_requests >= rpm:
        retry = window.expiries[0] - now if window.expiries else WINDOW_SECONDS
        return Decision(
            allowed=False,
            reason="requests",
            rpm=rpm,
            tpm=tpm,
            remaining_requests=0,
            remaining_tokens=max(0, tpm - used_tokens),
            retry_after=retry,
            needed=prompt,
        )
    if prompt > tpm - used_tokens:
        retry = WINDOW_SECONDS if prompt > tpm else window.token_retry(now, tpm, prompt)
        return Decision(
            allowed=False,
            reason="tokens",
            rpm=rpm,
            tpm=tpm,
            remaining_requests=rpm - used_requests,
            remaining_tokens=max(0, tpm - used_tokens),
            retry_after=retry,
            needed=prompt,
        )
    if not window.expiries:
        windows[where] = window
    window.add(now, total)
    if not report:
        return None
    return Decision.allow(rpm, tpm, rpm - used_requests - 1, max(0, tpm - window.tokens), prompt)


def usage_rows(
    limits: dict[tuple[str, str | None], tuple[int, int]],
    limits_for: Callable[[str, str | None], tuple[int, int]],
    used: dict[Where, tuple[int, int]],
) -> list[dict[str, Any]]:
    """Rows of GET /__admin/limits: each configured limit and each live window's usage.

    A window of one API key (profile 2026) is a row of its own with the key's ``keyId``.
    """
    rows: dict[tuple[str, str | None, str | None], dict[str, Any]] = {}
    for (workspace, model), (rpm, tpm) in limits.items():
        rows[(workspace, model, None)] = _row(workspace, model, rpm, tpm, 0, 0)
    for (workspace, model, key), (requests, tokens) in used.items():
        rpm, tpm = limits_for(workspace, model)
        row = _row(workspace, model, rpm, tpm, requests, tokens)
        if key is not None:
            row["keyId"] = fingerprint(key)
        rows[(workspace, model, key)] = row
    return sorted(
        rows.values(),
        key=lambda row: (row["workspace"], row["model"] or "", row.get("keyId", "")),
    )


def _row(
    workspace: str, model: str | None, rpm: int, tpm: int, requests: int, tokens: int
) -> dict[str, Any]:
    return {
        "workspace": workspace,
        "model": model,
        "rpm": rpm,
        "tpm": tpm,
        "requests": requests,
        "tokens": tokens,
    }
