"""The live jobs (queued or running) and every move they make: run, report, end, be recorded.

Every state change goes the same way: the new snapshot becomes the entry's, is stored, then
published, so a subscriber that saw a job end finds it ended in the store. Progress goes the
other way round: the ticker publishes it about ten times a second and stores it about once a
second. The entry's lock keeps one job's writes in order, so a slow progress write can never
land after the job's terminal one.

A write the store refuses (another process holds its lock past its busy timeout) is not fatal:
the job goes on in memory. Its end must not be lost, though: a terminal snapshot the store
refused is kept in ``unsaved``, answered from there, and stored again about once a second
until the store takes it (and once more when the manager stops).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Sequence
from typing import Final, final

import anyio

from adapters.processes import AsyncProcessPool
from service.config import Settings
from service.errors import FanoutError
from service.jobs.artifacts import Artifacts
from service.jobs.context import RunContext
from service.jobs.model import Job, JobState
from service.jobs.scheduler_entry import Entry
from service.jobs.scheduler_queue import WaitingLine
from service.jobs.scheduler_runner import attempt
from service.jobs.stats import JobStats, Tally
from service.jobs.store import JobStore
from service.jobs.transitions import started, stopped

__all__ = ["PROGRESS_EVERY_S", "STORE_EVERY_S", "LiveJobs"]

PROGRESS_EVERY_S: Final = 0.1
"""How often progress is published to subscribers, at most."""
STORE_EVERY_S: Final = 1.0
"""How often a running job's progress is stored, at most."""
_END_BATCH: Final = 1000
"""Queued jobs ended in one transaction by ``finish_waiting``."""
_log: Final = logging.getLogger("service.jobs")


@final
class LiveJobs:
    """Live jobs by id (``active``: queued or running; ``running``), the queue, and the tally of
    finished jobs."""

    __slots__ = (
        "active",
        "artifacts",
        "closing",
        "processes",
        "queue",
        "running",
        "settings",
        "store",
        "tally",
        "unsaved",
    )

    def __init__(self, settings: Settings, store: JobStore, artifacts: Artifacts) -> None:
        self.settings = settings
        self.store = store
        self.artifacts = artifacts
        self.active: dict[str, Entry] = {}
        self.running: dict[str, Entry] = {}
        self.unsaved: dict[str, Job] = {}  # ended jobs the store refused to take, by id
        self.queue = WaitingLine()
        self.tally = Tally()
        # Set when the manager stops: a job that has not started by then stays queued.
        self.closing = False
        # The manager's worker processes for kinds' CPU work, while it runs (None: none).
        self.processes: AsyncProcessPool | None = None

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
                    processes=self.processes,
                )
                final = await attempt(entry.kind, entry.params, entry.context, self.artifacts)
        finally:
            with anyio.CancelScope(shield=True):
                await self.finish(entry, self._settle(entry, final))

    async def finish(self, entry: Entry, final: Job | None) -> None:
        """Record ``final`` (None: leave the job queued in the store) and let the entry go."""
        if final is not None:
            if not await self.record(entry, final):
                self.unsaved[final.id] = final
            # A job that never started wrote nothing; one that failed in part keeps its artifact.
            kept = final.status is JobState.SUCCEEDED or final.artifact is not None
            if not kept and final.started_at is not None:
                await self._discard_files(final)
            self._ended(final)
        self._let_go(entry)

    async def finish_waiting(self, entries: Sequence[Entry], status: JobState) -> None:
        """End ``status`` every entry of ``entries``: queued jobs taken out of the line.

        No run can write them meanwhile, so they need neither a lock nor a task each: their
        ends are stored ``_END_BATCH`` to a transaction, then published. A stop with a line of
        100,000 jobs ends them in seconds rather than a minute.
        """
        for first in range(0, len(entries), _END_BATCH):
            batch = entries[first : first + _END_BATCH]
            finals = [stopped(entry.job, status) for entry in batch]
            stored = await self._put_many(finals)
            at = anyio.current_time()
            for entry, job in zip(batch, finals, strict=True):
                entry.job, entry.stored_at = job, at
                entry.publish(job)
                if not stored:
                    self.unsaved[job.id] = job
                self._ended(job)
                self._let_go(entry)

    async def record(self, entry: Entry, job: Job) -> bool:
        """Make ``job`` the entry's snapshot, store it, then publish it; whether it was stored."""
        async with entry.lock:
            entry.job = job
            stored = await self._put(job)
            entry.stored_at = anyio.current_time()
        entry.publish(job)
        return stored

    async def tick(self) -> None:
        """Publish (and now and then store) the progress of running jobs, forever."""
        while True:
            await anyio.sleep(PROGRESS_EVERY_S)
            for entry in list(self.running.values()):
                await self._report(entry)

    async def store_unsaved_periodically(self) -> None:
        """Store the ends the store refused, about once a second, forever."""
        while True:
            await anyio.sleep(STORE_EVERY_S)
            await self.store_unsaved()

    async def store_unsaved(self, *, last: bool = False) -> None:
        """Try once more to store the ends the store refused; ``last``: log those it still does."""
        if not self.unsaved:
            return  # the usual case, every second
        async with anyio.create_task_group() as group:  # together: one batch, one wait at most
            for job in list(self.unsaved.values()):
                group.start_soon(self._store_again, job)
        for job in self.unsaved.values() if last else ():
            _log.error("job %s ended %s, but the job store never took it", job.id, job.status)

    async def idle(self) -> None:
        """Return once no job is queued or running."""
        while self.active:
            await next(iter(self.active.values())).done.wait()

    def latest(self, job: Job) -> Job:
        """``job``, or its newer snapshot if it is live or ended unsaved."""
        newer = self.known(job.id)
        return job if newer is None else newer

    def known(self, job_id: str) -> Job | None:
        """The newest snapshot of a live job, or of an ended one the store has not taken yet."""
        entry = self.active.get(job_id)
        return self.unsaved.get(job_id) if entry is None else entry.latest()

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

    async def _put(self, job: Job) -> bool:
        return await self._stored(self.store.put(job), (job,))

    async def _put_many(self, jobs: Sequence[Job]) -> bool:
        return await self._stored(self.store.put_many(jobs), jobs)

    async def _stored(self, write: Awaitable[None], jobs: Sequence[Job]) -> bool:
        """Whether ``write`` (of ``jobs``) was stored. On failure the jobs go on (or end) in
        memory; a restart finds them as last stored."""
        try:
            await write
        except FanoutError as exc:  # the store says why (locked, full): no traceback needed
            _log.warning("%s: %s", _not_stored(jobs), exc)
            return False
        except Exception:
            _log.exception("%s", _not_stored(jobs))
            return False
        return True

    def _ended(self, final: Job) -> None:
        self.tally.finished(final)
        _log.info("job %s (%s) %s", final.id, final.kind, final.status)

    def _let_go(self, entry: Entry) -> None:
        self.active.pop(entry.job.id, None)
        self.running.pop(entry.job.id, None)
        entry.end()

    async def _store_again(self, job: Job) -> None:
        try:
            await self.store.put(job)
        except Exception:
            return  # logged when first refused; tried again in a second
        if self.unsaved.get(job.id) is job:
            del self.unsaved[job.id]
        _log.info("job %s: stored as %s at last", job.id, job.status)

    async def _discard_files(self, job: Job) -> None:
        try:
            await self.artifacts.remove(job)
        except OSError:
            _log.exception("job %s: could not remove the files it left", job.id)


def _not_stored(jobs: Sequence[Job]) -> str:
    if len(jobs) == 1:
        return f"job {jobs[0].id}: could not store it as {jobs[0].status}"
    return f"could not store the ends of {len(jobs)} jobs"
