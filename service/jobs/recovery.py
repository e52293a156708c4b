"""What a new manager makes of the jobs an earlier process left unfinished in the store.

A job left ``running`` was cut off: it ends ``interrupted``. A job left ``queued`` runs
again, unless it cannot: its secret lived in the old process's memory only, its kind is no
longer served, or its parameters no longer pass the kind's checks under today's settings;
those end ``interrupted`` too, saying why. Whatever files an interrupted job left are removed.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final, final

import msgspec

from service.config import Settings
from service.errors import InvalidInput
from service.jobs.artifacts import Artifacts
from service.jobs.kind import Kind
from service.jobs.model import Job, JobState
from service.jobs.store import JobStore
from service.jobs.submission import revive_params
from service.jobs.transitions import LOST_SECRET, WHILE_RUNNING, stopped

__all__ = ["Revived", "recover"]

_log: Final = logging.getLogger("service.jobs")


@final
@dataclass(frozen=True, slots=True)
class Revived:
    """A queued job to run again, with its parameters converted back."""

    job: Job
    kind: Kind
    params: msgspec.Struct = field(repr=False)


async def recover(
    store: JobStore, kinds: Mapping[str, Kind], artifacts: Artifacts, settings: Settings
) -> list[Revived]:
    """Interrupt what cannot run again; the queued jobs that can, oldest first."""
    for job in await store.with_status(JobState.RUNNING):
        await _interrupt(store, artifacts, job, WHILE_RUNNING)
    revived: list[Revived] = []
    for job in await store.with_status(JobState.QUEUED):
        kind = kinds.get(job.kind)
        if job.needs_secret:
            await _interrupt(store, artifacts, job, LOST_SECRET)
        elif kind is None:
            await _interrupt(store, artifacts, job, f"its kind {job.kind!r} is no longer served")
        else:
            try:
                params = revive_params(kind, job.params)
                kind.check(params, settings)
            except InvalidInput as exc:
                await _interrupt(store, artifacts, job, f"its parameters are refused now: {exc}")
                continue
            await artifacts.remove(job)
            revived.append(Revived(job, kind, params))
    return revived


async def _interrupt(store: JobStore, artifacts: Artifacts, job: Job, message: str) -> None:
    _log.info("job %s (%s) interrupted: %s", job.id, job.kind, message)
    await artifacts.remove(job)
    await store.put(stopped(job, JobState.INTERRUPTED, message))
