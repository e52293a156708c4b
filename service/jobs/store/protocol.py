"""What the job manager needs from a place that keeps jobs: the ``JobStore`` protocol.

The manager depends on this protocol alone, so the SQLite store (``service.jobs.store.sqlite``) can
be joined by a server database without touching the manager. A store keeps whole ``Job``
snapshots by id; the manager is its only writer and never writes one job from two tasks at
once. Ids sort by creation time (``new_job_id``), which is what makes ``list`` newest-first and
its ``after`` cursor stable while jobs come and go.

Failures of the store itself (a full disk, a broken file) are raised as ``FanoutError`` with a
message naming the store.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import Final, Protocol

from service.jobs.model import Job, JobState

__all__ = ["SWEEP_BATCH", "JobStore"]

SWEEP_BATCH: Final = 500
"""The most jobs ``finished_before`` returns at once, so a sweep never loads a whole table."""


class JobStore(Protocol):
    """Jobs kept by id, with the few queries the manager and the API make."""

    async def add(self, job: Job) -> None:
        """Keep a new job; its id must not be kept yet."""
        ...

    async def put(self, job: Job) -> None:
        """Replace the job with the same id by this newer snapshot."""
        ...

    async def put_many(self, jobs: Sequence[Job]) -> None:
        """``put`` each job, all in one transaction (all or none), after every write begun
        before the call."""
        ...

    async def get(self, job_id: str) -> Job | None:
        """The job with this id, or None."""
        ...

    async def list(
        self, *, status: JobState | None, kind: str | None, limit: int, after: str | None
    ) -> builtins.list[Job]:
        """Up to ``limit`` jobs, newest first, with ids strictly older than ``after`` if given."""
        ...

    async def with_status(self, *statuses: JobState) -> builtins.list[Job]:
        """Every job in one of ``statuses``, oldest first (the order they were queued in)."""
        ...

    async def finished_before(
        self, cutoff: float, *, limit: int = SWEEP_BATCH
    ) -> builtins.list[Job]:
        """Up to ``limit`` jobs that finished before ``cutoff``, oldest first."""
        ...

    async def delete(self, job_id: str) -> None:
        """Forget the job with this id; nothing happens if there is none."""
        ...

    async def aclose(self) -> None:
        """Release the store; it is not used afterwards."""
        ...
