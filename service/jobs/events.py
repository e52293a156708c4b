"""Job snapshots fanned out to subscribers, each with a small buffer that never blocks the job.

A job publishes every snapshot to its ``Channel``; each ``Subscription`` buffers up to
``capacity`` of them. When a buffer is full, a new snapshot in the same state as the newest
buffered one replaces it: a slow reader skips intermediate progress but still sees every state
change, in order, and always the terminal snapshot. A buffer therefore holds at most
``capacity`` plus one snapshot per state, whatever the reader does, and publishing is a
constant-time, non-blocking call.
"""

from __future__ import annotations

from collections import deque
from types import TracebackType
from typing import Final, final

import anyio

from service.jobs.model import Job

__all__ = ["BUFFERED", "Channel", "Subscription"]

BUFFERED: Final = 16
"""Snapshots a subscriber may fall behind by before intermediate progress is dropped."""


@final
class Subscription:
    """One reader's view of a job: an async iterator that ends after the terminal snapshot."""

    __slots__ = ("_buffer", "_capacity", "_channel", "_ended", "_wake")

    def __init__(self, channel: Channel, first: Job, capacity: int) -> None:
        self._channel = channel
        self._buffer: deque[Job] = deque([first])
        self._capacity = capacity
        self._ended = first.finished
        self._wake = anyio.Event()

    def __repr__(self) -> str:
        return f"<Subscription buffered={len(self._buffer)} ended={self._ended}>"

    def __enter__(self) -> Subscription:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._channel.unsubscribe(self)

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Job:
        while not self._buffer:
            if self._ended:
                raise StopAsyncIteration
            self._wake = anyio.Event()
            await self._wake.wait()
        return self._buffer.popleft()

    def push(self, job: Job) -> None:
        """Buffer ``job``; past capacity it supersedes a newest snapshot in the same state."""
        if self._ended:
            return
        newest = self._buffer[-1] if self._buffer else None
        if len(self._buffer) >= self._capacity and newest and newest.status == job.status:
            self._buffer[-1] = job
        else:
            self._buffer.append(job)
        self._ended = job.finished
        self._wake.set()

    def end(self) -> None:
        """End the iteration once the buffer is read, with no terminal snapshot to come."""
        self._ended = True
        self._wake.set()


@final
class Channel:
    """A job's subscribers."""

    __slots__ = ("_capacity", "_subscribers")

    def __init__(self, *, capacity: int = BUFFERED) -> None:
        if capacity < 1:
            raise ValueError(f"capacity {capacity}: must be 1 or more")
        self._capacity = capacity
        self._subscribers: set[Subscription] = set()

    def __repr__(self) -> str:
        return f"<Channel subscribers={len(self._subscribers)}>"

    def __len__(self) -> int:
        return len(self._subscribers)

    def subscribe(self, current: Job) -> Subscription:
        """A new subscription whose first snapshot is ``current``; use it in ``with``."""
        subscription = Subscription(self, current, self._capacity)
        self._subscribers.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self._subscribers.discard(subscription)

    def publish(self, job: Job) -> None:
        """Hand ``job`` to every subscriber; never waits."""
        for subscription in self._subscribers:
            subscription.push(job)

    def close(self) -> None:
        """End every subscription after what it has buffered (the manager is stopping)."""
        for subscription in self._subscribers:
            subscription.end()
