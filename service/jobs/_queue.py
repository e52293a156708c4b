"""The line of queued jobs, first come first served, and a way to wait for the first one."""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Iterator, Mapping
from typing import final

import anyio

from service.jobs._entry import Entry

__all__ = ["WaitingLine"]


@final
class WaitingLine:
    """Queued entries in order, counted per kind; a cancelled one leaves the line at once."""

    __slots__ = ("_arrived", "_by_kind", "_entries")

    def __init__(self) -> None:
        self._entries: deque[Entry] = deque()
        self._by_kind: Counter[str] = Counter()
        self._arrived = anyio.Event()

    def __repr__(self) -> str:
        return f"<WaitingLine {len(self._entries)} waiting>"

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[Entry]:
        return iter(self._entries)

    @property
    def by_kind(self) -> Mapping[str, int]:
        """How many jobs of each kind wait (kinds with none are left out)."""
        return +self._by_kind

    def append(self, entry: Entry) -> None:
        self._entries.append(entry)
        self._by_kind[entry.job.kind] += 1
        self._arrived.set()

    def remove(self, entry: Entry) -> bool:
        """Take ``entry`` out of the line; False if it was not in it (it has started)."""
        try:
            self._entries.remove(entry)
        except ValueError:
            return False
        self._by_kind[entry.job.kind] -= 1
        return True

    def pop(self) -> Entry | None:
        """The first entry, or None if the line is empty."""
        if not self._entries:
            return None
        entry = self._entries.popleft()
        self._by_kind[entry.job.kind] -= 1
        return entry

    def clear(self) -> None:
        self._entries.clear()
        self._by_kind.clear()

    async def wait(self) -> None:
        """Return once the line holds an entry."""
        while not self._entries:
            self._arrived = anyio.Event()
            await self._arrived.wait()
