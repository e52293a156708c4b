"""The line of queued jobs, first come first served among the kinds that may start a job.

Each kind waits in a line of its own, and every entry carries its number of arrival, so the
first entry of the whole line is the earliest of the kinds' first ones. ``pop`` asks about
each kind in that order and takes the first entry of the first kind that may start: a job
whose kind is at its ``[jobs] max_running_<kind>`` lets later jobs of other kinds pass it,
without walking the thousands that may wait behind it.

The kinds ``pop`` was refused stay refused until ``notify`` (a slot of a kind was given back):
until then a job of such a kind arriving wakes no waiter of ``changed``, so a flood of one kind
at its bound does not wake the dispatcher for every job only to be refused again.
"""

from __future__ import annotations

import heapq
import itertools
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from typing import final

import anyio

from service.jobs.scheduler_entry import Entry

__all__ = ["WaitingLine"]


@final
class WaitingLine:
    """Queued entries, a line per kind; a cancelled one leaves the line at once."""

    __slots__ = ("_arrivals", "_changed", "_kinds", "_refused", "_size")

    def __init__(self) -> None:
        self._kinds: dict[str, deque[tuple[int, Entry]]] = {}
        self._arrivals = itertools.count()
        self._size = 0
        self._changed = anyio.Event()
        self._refused: set[str] = set()  # kinds the last ``pop`` could not start, until notified

    def __repr__(self) -> str:
        return f"<WaitingLine {self._size} waiting>"

    def __len__(self) -> int:
        return self._size

    def __iter__(self) -> Iterator[Entry]:
        """Every entry, in the order they arrived."""
        return (entry for _, entry in heapq.merge(*self._kinds.values()))

    @property
    def by_kind(self) -> Mapping[str, int]:
        """How many jobs of each kind wait (kinds with none are left out)."""
        return {kind: len(line) for kind, line in self._kinds.items() if line}

    def append(self, entry: Entry) -> None:
        line = self._kinds.get(entry.job.kind)
        if line is None:
            line = self._kinds[entry.job.kind] = deque()
        line.append((next(self._arrivals), entry))
        self._size += 1
        if entry.job.kind not in self._refused:
            self._changed.set()

    def remove(self, entry: Entry) -> bool:
        """Take ``entry`` out of the line; False if it was not in it (it has started)."""
        line = self._kinds.get(entry.job.kind)
        if line is None:
            return False
        for index, (_, waiting) in enumerate(line):
            if waiting is entry:
                del line[index]
                self._size -= 1
                return True
        return False

    def pop(self, may_start: Callable[[str], bool] = lambda kind: True) -> Entry | None:
        """The first entry of the first kind (in the order their first entries arrived) for
        which ``may_start(kind)`` is true, or None. ``may_start`` is asked about a kind at most
        once, and about none after it says yes: it may take that kind's slot as it answers."""
        firsts = sorted((line[0][0], kind) for kind, line in self._kinds.items() if line)
        refused = self._refused = set()
        for _, kind in firsts:
            if may_start(kind):
                self._size -= 1
                return self._kinds[kind].popleft()[1]
            refused.add(kind)
        return None

    def clear(self) -> None:
        self._kinds.clear()
        self._size = 0

    def notify(self) -> None:
        """Wake the waiters of :meth:`changed`: a job that could not start may start now."""
        self._refused.clear()
        self._changed.set()

    async def changed(self) -> None:
        """Return at the next :meth:`notify`, or arrival of a job of a kind the last ``pop``
        did not refuse."""
        if self._changed.is_set():
            self._changed = anyio.Event()
        await self._changed.wait()

    async def wait(self) -> None:
        """Return once the line holds an entry."""
        while not self._size:
            await self.changed()
