"""A job the manager holds while it is queued or running, with what only memory may keep."""

from __future__ import annotations

from collections.abc import AsyncIterable
from typing import final

import anyio
import msgspec

from service.jobs.context import RunContext
from service.jobs.events import Channel, Subscription
from service.jobs.kind import Kind
from service.jobs.model import Job, JobState

__all__ = ["Entry"]


@final
class Entry:
    """One live job: its latest snapshot, its run's parts, its subscribers, how it is stopped.

    A stop that comes before the run still takes effect: ``scope`` is the same object for
    both, and a cancel scope cancelled before it is entered cancels its body at the first
    checkpoint.
    ``lock`` orders the writes of one job's snapshots to the store. ``done`` is set by ``end``.

    The scope, the lock, the ``done`` event and the channel are made when first used: most
    entries wait in the queue, untouched, and a daemon may hold tens of thousands of them.
    Made up front they were a dozen objects each for the garbage collector to walk at every
    full collection: with tens of thousands queued, one took up to 0.2 s.
    """

    __slots__ = (
        "_channel",
        "_done",
        "_ended",
        "_lock",
        "_scope",
        "context",
        "dispatched",
        "job",
        "kind",
        "params",
        "payload",
        "secret",
        "stop_reason",
        "stored_at",
    )

    def __init__(
        self,
        job: Job,
        kind: Kind,
        params: msgspec.Struct,
        *,
        secret: str | None = None,
        payload: AsyncIterable[bytes] | None = None,
    ) -> None:
        self.job = job
        self.kind = kind
        self.params = params
        self.secret = secret
        self.payload = payload
        self.context: RunContext | None = None
        self.dispatched = False
        self.stop_reason: JobState | None = None
        self.stored_at = 0.0
        self._channel: Channel | None = None
        self._scope: anyio.CancelScope | None = None
        self._lock: anyio.Lock | None = None
        self._done: anyio.Event | None = None
        self._ended = False

    def __repr__(self) -> str:
        # Never the params or the secret: reprs end up in logs.
        return f"<Entry {self.job.id} {self.job.kind} {self.job.status}>"

    @property
    def scope(self) -> anyio.CancelScope:
        if self._scope is None:
            self._scope = anyio.CancelScope()
        return self._scope

    @property
    def lock(self) -> anyio.Lock:
        if self._lock is None:
            self._lock = anyio.Lock()
        return self._lock

    @property
    def done(self) -> anyio.Event:
        if self._done is None:
            self._done = anyio.Event()
            if self._ended:
                self._done.set()
        return self._done

    def subscribe(self, current: Job) -> Subscription:
        """A subscription to the job's snapshots, ``current`` first; use it in ``with``."""
        if self._channel is None:
            self._channel = Channel()
        return self._channel.subscribe(current)

    def publish(self, job: Job) -> None:
        """Hand ``job`` to the subscribers, if any."""
        if self._channel is not None:
            self._channel.publish(job)

    def end(self) -> None:
        """The manager lets the entry go: end its subscriptions and set ``done``."""
        self._ended = True
        if self._channel is not None:
            self._channel.close()
        if self._done is not None:
            self._done.set()

    def stop(self, reason: JobState) -> None:
        """Cancel the run; it ends ``reason`` (the first reason given wins)."""
        if self.stop_reason is None:
            self.stop_reason = reason
        self.scope.cancel()

    def latest(self) -> Job:
        """The snapshot with the newest progress the run reported (an ended job's is final)."""
        context = self.context
        if context is None or self.job.finished or context.latest == self.job.progress:
            return self.job
        return msgspec.structs.replace(self.job, progress=context.latest)
