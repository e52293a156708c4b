"""Forgetting finished jobs once ``[jobs] retention_s`` has passed: their rows and their files.

Files go before rows: a crash between the two leaves a row whose sweep is simply retried,
never a file no row points to.
"""

from __future__ import annotations

import logging
from typing import Final

import anyio

from service.config import Settings
from service.jobs.artifacts import Artifacts
from service.jobs.model import now
from service.jobs.store import SWEEP_BATCH, JobStore

__all__ = ["sweep", "sweep_interval", "sweep_periodically"]

_log: Final = logging.getLogger("service.jobs")


def sweep_interval(retention_s: float) -> float:
    """How often to sweep: a quarter of the retention, at most every minute."""
    return min(60.0, retention_s / 4)


async def sweep(store: JobStore, artifacts: Artifacts, cutoff: float) -> int:
    """Delete every job finished before ``cutoff`` and its files; how many were deleted."""
    deleted = 0
    while True:
        batch = await store.finished_before(cutoff, limit=SWEEP_BATCH)
        for job in batch:
            await artifacts.remove(job)
            await store.delete(job.id)
        deleted += len(batch)
        if len(batch) < SWEEP_BATCH:
            return deleted


async def sweep_periodically(store: JobStore, artifacts: Artifacts, settings: Settings) -> None:
    """Sweep every ``sweep_interval``, forever; a failed sweep is logged and tried again."""
    retention_s = settings.jobs.retention_s
    every = sweep_interval(retention_s)
    while True:
        await anyio.sleep(every)
        try:
            deleted = await sweep(store, artifacts, now() - retention_s)
        except Exception:
            _log.exception("the retention sweep failed; it is tried again in %g s", every)
        else:
            if deleted:
                _log.info("retention: deleted %d finished jobs", deleted)
