"""Time as the mock sees it: a clock that runs, or stands still and moves only when told."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import Protocol

__all__ = ["DEFAULT_EPOCH", "Clock", "MockClock", "isoformat"]

DEFAULT_EPOCH = datetime(2025, 1, 1, tzinfo=UTC).timestamp()


class Clock(Protocol):
    """Anything that tells the time in seconds since the Unix epoch."""

    def now(self) -> float:
        """The current time in seconds."""
        ...


class MockClock:
    """Starts at ``start``; runs with the monotonic clock unless frozen; can be moved forward.

    The rate limiter and every timestamp read this clock only, so a test freezes it and advances
    it instead of sleeping.
    """

    def __init__(self, start: float = DEFAULT_EPOCH, *, frozen: bool = False) -> None:
        self._lock = threading.Lock()
        self._start = start
        self._initially_frozen = frozen
        self.reset()

    def reset(self) -> None:
        """Back to the start time and the start mode."""
        with self._lock:
            self._base = self._start
            self._anchor = time.monotonic()
            self._frozen = self._initially_frozen

    def now(self) -> float:
        """The current mock time."""
        if self._frozen:
            return self._base
        return self._base + (time.monotonic() - self._anchor)

    @property
    def frozen(self) -> bool:
        """Whether the clock stands still."""
        return self._frozen

    def freeze(self, frozen: bool = True) -> None:
        """Stop (or restart) the clock at the current mock time."""
        with self._lock:
            self._base = self.now()
            self._anchor = time.monotonic()
            self._frozen = frozen

    def advance(self, seconds: float) -> float:
        """Move the clock forward; returns the new time."""
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        with self._lock:
            self._base += seconds
            return self.now()

    def state(self) -> tuple[float, float, bool]:
        """What ``snapshot`` needs to put the clock back."""
        return self.now(), time.monotonic(), self._frozen

    def restore(self, state: tuple[float, float, bool]) -> None:
        """Put the clock back where ``state`` was taken (a running clock keeps running)."""
        with self._lock:
            self._base, self._anchor, self._frozen = state


def isoformat(timestamp: float) -> str:
    """ISO 8601 in UTC with milliseconds and a Z, as the vendor writes dates."""
    moment = datetime.fromtimestamp(timestamp, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
