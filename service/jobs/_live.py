"""The live jobs (queued or running) and every move they make: run, report, end, be recorded.

Every state change goes the same way: the new snapshot becomes the entry's, is stored, then
published, so a subscriber that saw a job end finds it ended in the store. Progress goes the
other way round: the ticker publishes it about ten times a second and stores it about once a
second. The entry's lock keeps one job's writes in order, so a slow progress write can never
land after the job's terminal one.
"""

from __future__ import annotations

import logging
from typing import Final, final

import anyio

from service.config import Settings
from service.jobs._entry import Entry
from service.jobs._queue import WaitingLine
from service.jobs._runner import attempt
from service.jobs._transitions import started, stopped
from service.jobs.artifacts import Artifacts
from service.jobs.context import RunContext
from service.jobs.model import Job, JobState
from service.jobs.stats import JobStats, Tally
from service.jobs.store import JobStore

__all__ = ["PROGRESS_EVERY_S", "STORE_EVERY_S", "LiveJobs"]

PROGRESS_EVERY_S: Final = 0.1
"""How often progress is published to subscribers, at most."""
STORE_EVERY_S: Final = 1.0
"""How often a running job's progress is stored, at most."""
_log: Final = logging.getLogger("service.jobs")


@final
class LiveJobs:
    """Live jobs by id (``active``: queued or running; ``running``), the queue, and the tally of
    finished jobs."""

    __slots__ = ("active", "artifacts", "closing", "queue", "running", "settings", "store", "tally")

    def __init__(self, settings: Settings, store: JobStore, artifacts: Artifacts) -> None:
        self.settings = settings
        self.store = store
        self.artifacts = artifacts
        self.active: dict[str, Entry] = {}
        self.running: dict[str, Entry] = {}
        self.queue = WaitingLine()
        self.tally = Tally()
        # Set when the manager stops: a job that has not started by then stays queued.
        self.closing = False

    def __repr__(self) -> str:
        return f"<LiveJobs active={len(self.active)} queued={len(self.queue)}>"

    def enqueue(self, entry: Entry) -> None:
        self.active[entry.job.id] = entry
        self.queue.append(entry)

    async def execute(self, entry: Entry) -> None:
        """Run the job to its end, whatever ends it: the end is always recorded."""
        self.active[entry.job.id] = self.running[entry.job.id] = entry
        entry.dispatched = True
        final: Job | None = None
        try:
            with entry.scope:
                await self.record(entry, started(entry.job))
                _log.info("job %s (%s) started", entry.job.id, entry.job.kind)
                entry.context = RunContext(
                    entry.job,
                    self.settings,
                    self.artifacts,
                    secret=entry.secret,
                    payload=entry.payload,
                )
                final = await attempt(entry.kind, entry.params, entry.context, self.artifacts)
        finally:
            with anyio.CancelScope(shield=True):
                await self.finish(entry, self._settle(entry, final))

    async def finish(self, entry: Entry, final: Job | None) -> None:
        """Record ``final`` (None: leave the job queued in the store) and let the entry go."""
        if final is not None:
            await self.record(entry, final)
            if final.status is not JobState.SUCCEEDED:
                await self._discard_files(final)
            self.tally.finished(final)
            _log.info("job %s (%s) %s", final.id, final.kind, final.status)
        self.active.pop(entry.job.id, None)
        self.running.pop(entry.job.id, None)
        entry.end()

    async def record(self, entry: Entry, job: Job) -> None:
        """Make ``job`` the entry's snapshot, store it, then publish it."""
        async with entry.lock:
            entry.job = job
            await self._put(job)
            entry.stored_at = anyio.current_time()
        entry.publish(job)

    async def tick(self) -> None:
        """Publish (and now and then store) the progress of running jobs, forever."""
        while True:
            await anyio.sleep(PROGRESS_EVERY_S)
            for entry in list(self.running.values()):
                await self._report(entry)

    async def idle(self) -> None:
        """Return once no job is queued or running."""
        while self.active:
            await next(iter(self.active.values())).done.wait()

    def latest(self, job: Job) -> Job:
        """``job``, or its newer snapshot if it is live."""
        entry = self.active.get(job.id)
        return job if entry is None else entry.latest()

    def forget_queued(self) -> None:
        """Drop the entries of jobs that never started; they stay queued in the store."""
        for entry in self.active.values():
            entry.end()
        self.active.clear()
        self.queue.clear()

    def stats(self, *, draining: bool) -> JobStats:
        running = [entry.job for entry in self.running.values()]
        return self.tally.stats(self.queue.by_kind, running, draining=draining)

    def _settle(self, entry: Entry, final: Job | None) -> Job | None:
        # A run that returned stands, unless it was stopped and failed because of the stop.
        if final is not None and (entry.stop_reason is None or final.status is JobState.SUCCEEDED):
            return final
        shutdown = JobState.INTERRUPTED if self.closing else JobState.CANCELLED
        reason = entry.stop_reason or shutdown
        never_started = entry.job.status is JobState.QUEUED and entry.payload is None
        if self.closing and reason is JobState.INTERRUPTED and never_started:
            return None
        return stopped(entry.latest(), reason)

    async def _report(self, entry: Entry) -> None:
        if entry.job.status is not JobState.RUNNING:
            return
        job = entry.latest()
        if job is entry.job:
            return
        entry.job = job
        entry.publish(job)
        if anyio.current_time() - entry.stored_at < STORE_EVERY_S:
            return
        async with entry.lock:
            if entry.job is job:  # not ended meanwhile: a terminal snapshot is never overwritten
                await self._put(job)
                entry.stored_at = anyio.current_time()

    async def _put(self, job: Job) -> None:
        try:
            await self.store.put(job)
        except Exception:
            # The job goes on (or ends) in memory; a restart finds it as last stored.
            _log.exception("job %s: could not store it as %s", job.id, job.status)

    async def _discard_files(self, job: Job) -> None:
        try:
            await self.artifacts.remove(job)
        except OSError:
            _log.exception("job %s: could not remove the files it left", job.id)
