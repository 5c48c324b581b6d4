"""Time as the mock sees it: a clock that runs, or stands still and moves only when told."""

from __future__ import annotations

import math
import threading
import time
from datetime import UTC, datetime
from typing import Protocol

from mockserver.errors import ConfigError

__all__ = ["DEFAULT_EPOCH", "LATEST", "Clock", "ClockState", "MockClock", "isoformat"]

DEFAULT_EPOCH = datetime(2025, 1, 1, tzinfo=UTC).timestamp()
# The last moment every timestamp of the mock can still be written as an ISO date.
LATEST = datetime(9999, 12, 31, tzinfo=UTC).timestamp()

# (mock time at the anchor, monotonic time of the anchor, frozen)
ClockState = tuple[float, float, bool]


class Clock(Protocol):
    """Anything that tells the time in seconds since the Unix epoch."""

    def now(self) -> float:
        """The current time in seconds."""
        ...


class MockClock:
    """Starts at ``start``; runs with the monotonic clock unless frozen; can be moved forward.

    The rate limiter and every timestamp read this clock only, so a test freezes it and advances
    it instead of sleeping. Readers take no lock: the reading is one immutable tuple, swapped
    whole by writers (who serialize on a lock), so ``now()`` never sees half an update.
    """

    def __init__(self, start: float = DEFAULT_EPOCH, *, frozen: bool = False) -> None:
        self._lock = threading.Lock()
        self._start = start
        self._initially_frozen = frozen
        self._reading: ClockState = (start, time.monotonic(), frozen)

    def reset(self) -> None:
        """Back to the start time and the start mode."""
        with self._lock:
            self._reading = (self._start, time.monotonic(), self._initially_frozen)

    def now(self) -> float:
        """The current mock time."""
        base, anchor, frozen = self._reading
        return base if frozen else base + (time.monotonic() - anchor)

    @property
    def frozen(self) -> bool:
        """Whether the clock stands still."""
        return self._reading[2]

    def freeze(self, frozen: bool = True) -> None:
        """Stop (or restart) the clock at the current mock time."""
        with self._lock:
            self._reading = (self.now(), time.monotonic(), frozen)

    def advance(self, seconds: float) -> float:
        """Move the clock forward by ``seconds``; returns the new time.

        Raises ``ConfigError`` for a negative or non-finite step, or one past year 9999.
        """
        if not math.isfinite(seconds) or seconds < 0:
            raise ConfigError(f"advance: {seconds!r} is not a finite, non-negative number")
        with self._lock:
            base, anchor, frozen = self._reading
            if self.now() + seconds > LATEST:
                raise ConfigError("advance: the clock would pass the year 9999")
            self._reading = (base + seconds, anchor, frozen)
        return self.now()

    def state(self) -> ClockState:
        """What ``restore`` needs to put the clock back."""
        base, anchor, frozen = self._reading
        monotonic = time.monotonic()
        return (base if frozen else base + (monotonic - anchor), monotonic, frozen)

    def restore(self, state: ClockState) -> None:
        """Put the clock back where ``state`` was taken (a running clock keeps running)."""
        with self._lock:
            self._reading = state


def isoformat(timestamp: float) -> str:
    """ISO 8601 in UTC with milliseconds and a Z, as the vendor writes dates."""
    moment = datetime.fromtimestamp(timestamp, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
