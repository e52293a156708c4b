"""A job the manager holds while it is queued or running, with what only memory may keep."""

from __future__ import annotations

from collections.abc import AsyncIterable
from typing import final

import anyio
import msgspec

from service.jobs.context import RunContext
from service.jobs.events import Channel
from service.jobs.kind import Kind
from service.jobs.model import Job, JobState

__all__ = ["Entry"]


@final
class Entry:
    """One live job: its latest snapshot, its run's parts, its subscribers, how it is stopped.

    ``scope`` exists before the run starts, so a stop that comes first still takes effect: a
    cancel scope cancelled before it is entered cancels its body at the first checkpoint.
    ``lock`` orders the writes of one job's snapshots to the store.
    """

    __slots__ = (
        "channel",
        "context",
        "dispatched",
        "done",
        "job",
        "kind",
        "lock",
        "params",
        "payload",
        "scope",
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
        self.channel = Channel()
        self.scope = anyio.CancelScope()
        self.lock = anyio.Lock()
        self.done = anyio.Event()
        self.context: RunContext | None = None
        self.dispatched = False
        self.stop_reason: JobState | None = None
        self.stored_at = 0.0

    def __repr__(self) -> str:
        # Never the params or the secret: reprs end up in logs.
        return f"<Entry {self.job.id} {self.job.kind} {self.job.status}>"

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
