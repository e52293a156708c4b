"""A ``JobStore`` that shows the metrics every job's final snapshot as it is stored.

The manager stores every change of a job (``add``, ``put``); the one that ends it carries
its run time. Observing the store, rather than asking the manager for a hook, keeps the
metrics out of the manager and catches every way a job ends: done, failed, cancelled, or
interrupted by a drain or by the recovery of a crashed run.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import final

from service.api.metrics import Metrics
from service.jobs.model import Job, JobState
from service.jobs.store import SWEEP_BATCH, JobStore

__all__ = ["MeteredStore"]


@final
class MeteredStore:
    """``store``, reporting each job's final snapshot to ``metrics``."""

    __slots__ = ("_metrics", "_store")

    def __init__(self, store: JobStore, metrics: Metrics) -> None:
        self._store = store
        self._metrics = metrics

    def __repr__(self) -> str:
        return f"<MeteredStore {self._store!r}>"

    async def add(self, job: Job) -> None:
        await self._store.add(job)
        self._metrics.observe(job)

    async def put(self, job: Job) -> None:
        await self._store.put(job)
        self._metrics.observe(job)

    async def put_many(self, jobs: Sequence[Job]) -> None:
        await self._store.put_many(jobs)
        for job in jobs:
            self._metrics.observe(job)

    async def get(self, job_id: str) -> Job | None:
        return await self._store.get(job_id)

    async def list(
        self, *, status: JobState | None, kind: str | None, limit: int, after: str | None
    ) -> builtins.list[Job]:
        return await self._store.list(status=status, kind=kind, limit=limit, after=after)

    async def with_status(self, *statuses: JobState) -> builtins.list[Job]:
        return await self._store.with_status(*statuses)

    async def finished_before(
        self, cutoff: float, *, limit: int = SWEEP_BATCH
    ) -> builtins.list[Job]:
        return await self._store.finished_before(cutoff, limit=limit)

    async def delete(self, job_id: str) -> None:
        await self._store.delete(job_id)

    async def aclose(self) -> None:
        await self._store.aclose()
