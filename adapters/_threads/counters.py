"""Counters shared by threads, each guarded by a lock (item 54).

``self.count += offset`` is a read, an add and a write: a thread switch between them loses an
update. Whether a given CPython happens to switch there is an accident of its bytecode and
scheduler, so shared counters take a lock, always.
"""

from __future__ import annotations

import threading
from typing import final

__all__ = ["LockCounter", "PeakGauge"]


@final
class LockCounter:
    """An integer that many threads may increment at once without losing an update."""

    __slots__ = ("_lock", "_value")

    def __init__(self, start: int = 0) -> None:
        self._lock = threading.Lock()
        self._value = start

    def increment(self, offset: int = 1) -> int:
        """Add ``offset`` (which may be negative) and return the new value."""
        with self._lock:
            self._value += offset
            return self._value

    @property
    def value(self) -> int:
        """The current value."""
        with self._lock:
            return self._value

    def __repr__(self) -> str:
        return f"<LockCounter {self._value}>"


@final
class PeakGauge:
    """How many threads are inside a section now, and the most there ever were at once.

    Use ``with gauge:`` around the section, or pair :meth:`enter` with :meth:`exit` yourself.
    """

    __slots__ = ("_current", "_lock", "_peak")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._current = 0
        self._peak = 0

    def enter(self) -> None:
        """Count one more thread inside, raising the peak if it is a new high."""
        with self._lock:
            self._current += 1
            self._peak = max(self._peak, self._current)

    def exit(self) -> None:
        """Count one thread out; raises ``RuntimeError`` without a matching :meth:`enter`."""
        with self._lock:
            if self._current == 0:
                raise RuntimeError("PeakGauge.exit() without a matching enter()")
            self._current -= 1

    def __enter__(self) -> PeakGauge:
        self.enter()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.exit()

    @property
    def current(self) -> int:
        """Threads inside now."""
        with self._lock:
            return self._current

    @property
    def peak(self) -> int:
        """The most threads that were ever inside at the same time."""
        with self._lock:
            return self._peak

    def __repr__(self) -> str:
        return f"<PeakGauge current={self._current} peak={self._peak}>"
