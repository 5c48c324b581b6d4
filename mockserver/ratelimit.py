"""Sliding 60-second windows of requests and tokens, per workspace and model, on the mock clock."""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from .clock import Clock

__all__ = ["WINDOW_SECONDS", "Decision", "RateLimiter", "estimate_tokens"]

WINDOW_SECONDS = 60.0


def estimate_tokens(characters: int, chars_per_token: int = 4) -> int:
    """ceil(characters / chars_per_token): the documented estimate."""
    return math.ceil(characters / chars_per_token)


@dataclass(frozen=True, slots=True)
class Decision:
    """The limiter's answer, with what the optional rate-limit headers report."""

    allowed: bool
    reason: str
    rpm: int
    tpm: int
    remaining_requests: int
    remaining_tokens: int
    retry_after: float

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


@dataclass(slots=True)
class _Window:
    events: deque[tuple[float, int]] = field(default_factory=deque)
    tokens: int = 0

    def prune(self, now: float) -> None:
        # An event leaves the window exactly 60 s after it happened.
        horizon = now - WINDOW_SECONDS
        events = self.events
        while events and events[0][0] <= horizon:
            self.tokens -= events.popleft()[1]


class RateLimiter:
    """Not thread-safe alone: MockState calls it under its lock, so check-and-count is atomic."""

    def __init__(self, clock: Clock, rpm: int, tpm: int) -> None:
        self._clock = clock
        self._default = (rpm, tpm)
        self._limits: dict[tuple[str, str | None], tuple[int, int]] = {}
        self._windows: dict[tuple[str, str], _Window] = {}

    def set_limits(self, workspace: str, model: str | None, rpm: int, tpm: int) -> None:
        """Limits for one model of a workspace, or for all its models (``model=None``)."""
        if model is None:
            for key in [k for k in self._limits if k[0] == workspace]:
                del self._limits[key]
        self._limits[(workspace, model)] = (rpm, tpm)

    def limits_for(self, workspace: str, model: str) -> tuple[int, int]:
        """The (rpm, tpm) in force for a workspace and model."""
        found = self._limits.get((workspace, model)) or self._limits.get((workspace, None))
        return found or self._default

    def acquire(
        self, workspace: str, model: str, prompt_tokens: int, total_tokens: int
    ) -> Decision:
        """Count one request of ``total_tokens`` if the window has room for it and its prompt."""
        now = self._clock.now()
        rpm, tpm = self.limits_for(workspace, model)
        window = self._windows.get((workspace, model))
        if window is None:
            window = self._windows[(workspace, model)] = _Window()
        window.prune(now)
        used_requests, used_tokens = len(window.events), window.tokens
        if used_requests >= rpm:
            retry = window.events[0][0] + WINDOW_SECONDS - now if window.events else WINDOW_SECONDS
            return Decision(False, "requests", rpm, tpm, 0, max(0, tpm - used_tokens), retry)
        if prompt_tokens > tpm - used_tokens:
            retry = self._token_retry(window, now, tpm, prompt_tokens)
            return Decision(
                False, "tokens", rpm, tpm, rpm - used_requests, max(0, tpm - used_tokens), retry
            )
        window.events.append((now, total_tokens))
        window.tokens += total_tokens
        return Decision(
            True, "", rpm, tpm, rpm - used_requests - 1, max(0, tpm - window.tokens), 0.0
        )

    @staticmethod
    def _token_retry(window: _Window, now: float, tpm: int, needed: int) -> float:
        """Seconds until enough tokens leave the window for ``needed`` (60 s if never)."""
        if needed > tpm:
            return WINDOW_SECONDS
        used = window.tokens
        for at, tokens in window.events:
            used -= tokens
            if needed <= tpm - used:
                return at + WINDOW_SECONDS - now
        return WINDOW_SECONDS

    def usage(self) -> list[dict[str, Any]]:
        """Limits and current usage of every window and configured limit."""
        now = self._clock.now()
        rows: dict[tuple[str, str | None], dict[str, Any]] = {}
        for (workspace, model), (rpm, tpm) in self._limits.items():
            rows[(workspace, model)] = {
                "workspace": workspace,
                "model": model,
                "rpm": rpm,
                "tpm": tpm,
                "requests": 0,
                "tokens": 0,
            }
        for (workspace, model), window in self._windows.items():
            window.prune(now)
            rpm, tpm = self.limits_for(workspace, model)
            rows[(workspace, model)] = {
                "workspace": workspace,
                "model": model,
                "rpm": rpm,
                "tpm": tpm,
                "requests": len(window.events),
                "tokens": window.tokens,
            }
        return sorted(rows.values(), key=lambda row: (row["workspace"], row["model"] or ""))

    def prune(self) -> None:
        """Drop expired events and empty windows, so memory stays bounded."""
        now = self._clock.now()
        for key in list(self._windows):
            window = self._windows[key]
            window.prune(now)
            if not window.events:
                del self._windows[key]

    def clear_usage(self) -> None:
        """Forget every counted request (limits stay)."""
        self._windows.clear()
