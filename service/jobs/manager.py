"""The job manager: jobs submitted, queued, run under limits, cancelled, drained, kept.

One task group owns every task the manager starts: a dispatcher that hands queued jobs to
free slots, one task per running job, a ticker that publishes progress, a retention sweeper
and a task that stores again the ends of jobs a locked store refused. ``[jobs] max_running``
slots (a ``CapacityLimiter``) bound the jobs running at once, a kind's own bound (the kind's
``max_running``, from ``[jobs] max_running_<kind>``) those of the kind among them, and ``[jobs]
max_queued`` the jobs waiting for a slot; past it ``submit`` raises ``Busy``.

A job with a payload (an upload, streamed into the job as it arrives) cannot wait in the queue,
since its payload is the caller's request: the caller waits for a slot itself, the job runs in
the caller's task, and ``submit`` returns the finished job. Such jobs do not count against
``max_queued``, and are never stored as queued (a restart could not give them their payload).

The manager also keeps ``[jobs] worker_processes`` worker processes (an ``AsyncProcessPool``,
at ``[jobs] worker_nice`` below the daemon's CPU priority) for the kinds' CPU work, offered to
each run as ``context.processes``: started when first needed, stopped when the manager is left.

Each run sits in its own cancel scope. ``cancel`` cancels that scope and the job ends
``cancelled``; ``drain`` and leaving the manager cancel it too, but then the job ends
``interrupted``: the client did not ask. Leaving the manager leaves queued jobs queued in the
store, to run when the next manager starts (``drain`` first to end them instead).

It is longer than ~300 lines because it is the manager's whole public face (submit, get, list,
cancel, artifact, events, drain, stats) over the scheduler's parts, each a few lines.
"""

from __future__ import annotations

import builtins
import dataclasses
import logging
from collections.abc import AsyncIterable, AsyncIterator, Mapping
from contextlib import aclosing
from pathlib import Path
from types import TracebackType
from typing import Any, Final, final

import anyio
from anyio.abc import TaskGroup

from adapters.processes import AsyncProcessPool
from service.config import Settings
from service.crypto import Password
from service.errors import BadParam, Busy, Conflict, Draining, NotFound
from service.jobs.artifacts import Artifacts, is_job_id
from service.jobs.context import ProcessWorkers, bounded
from service.jobs.kind import Kind
from service.jobs.model import Job, JobState, new_job_id, now
from service.jobs.recovery import recover
from service.jobs.retention import sweep, sweep_periodically
from service.jobs.scheduler import Entry, LiveJobs, Slots
from service.jobs.stats import JobStats
from service.jobs.store import JobStore
from service.jobs.submission import Submission, check_submission
from service.jobs.transitions import stopped

__all__ = ["MAX_PAGE", "JobManager"]

MAX_PAGE: Final = 500
WORKER_PRELOAD: Final = ("numpy", "service.jobs.kinds.life")
"""What the manager's worker processes import before their first task: the kinds that use them."""
_CANCEL_WAIT_S: Final = 10.0
_log: Final = logging.getLogger("service.jobs")


@final
class JobManager:
    """Runs jobs of the given kinds; use it as ``async with JobManager(...) as manager``."""

    __slots__ = (
        "_draining",
        "_group",
        "_kinds",
        "_live",
        "_reserved",
        "_settings",
        "_slots",
    )

    def __init__(
        self,
        settings: Settings,
        store: JobStore,
        kinds: Mapping[str, Kind],
        *,
        artifacts: Artifacts,
    ) -> None:
        self._settings = settings
        self._kinds = dict(kinds)
        self._live = LiveJobs(settings, store, artifacts)
        self._slots = Slots(
            self._live.queue,
            settings.jobs.max_running,
            {name: kind.max_running(settings) for name, kind in self._kinds.items()},
        )
        self._group: TaskGroup | None = None
        self._draining = False
        self._reserved = 0

    def __repr__(self) -> str:
        return f"<JobManager active={len(self._live.active)} draining={self._draining}>"

    async def __aenter__(self) -> JobManager:
        if self._group is not None or self._live.closing:
            raise RuntimeError("a job manager runs once: make a new one to start again")
        live = self._live
        await live.artifacts.sweep_partials()
        if self._settings.jobs.worker_processes:
            pool = AsyncProcessPool(
                self._settings.jobs.worker_processes,
                preload=WORKER_PRELOAD,
                nice=self._settings.jobs.worker_nice,
            )
            live.processes = ProcessWorkers(pool)
        revived = await recover(live.store, self._kinds, live.artifacts, self._settings)
        for job in revived:
            live.enqueue(Entry(job.job, job.kind, job.params))
        group = self._group = anyio.create_task_group()
        await group.__aenter__()
        group.start_soon(self._slots.dispatch, group, live.execute)
        group.start_soon(live.tick)
        group.start_soon(live.store_unsaved_periodically)
        group.start_soon(sweep_periodically, live.store, live.artifacts, self._settings)
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        group, self._group = self._group, None
        if group is None:
            return
        self._live.closing = True
        try:
            # Shielded: leaving because of a cancellation must still record every job's end.
            with anyio.CancelScope(shield=True):
                await self._stop_running()
                await self._live.store_unsaved(last=True)
        finally:
            group.cancel_scope.cancel()
            await group.__aexit__(None, None, None)
            self._live.forget_queued()
            processes, self._live.processes = self._live.processes, None
            if processes is not None:
                await processes.aclose()  # every job has ended: the workers are idle

    @property
    def worker_pids(self) -> tuple[int, ...]:
        """The process ids of the worker processes alive now (``[jobs] worker_processes``)."""
        processes = self._live.processes
        return () if processes is None else processes.pids

    @property
    def draining(self) -> bool:
        """True once ``drain`` has begun: ``submit`` raises ``Draining``."""
        return self._draining

    async def submit(
        self,
        kind: str,
        params: Mapping[str, Any],
        *,
        secret: Password | str | None = None,
        payload: AsyncIterable[bytes] | None = None,
    ) -> Job:
        """Check and queue a job; the job as queued, or with a ``payload`` the finished job
        (or ``interrupted``, if a drain began while it was being stored).

        Raises BadParam (unknown kind, wrong parameters, missing password), the kind's own
        InvalidInput, Busy past ``[jobs] max_queued`` waiting jobs, Draining while stopping.
        """
        self._admit()
        submission = check_submission(
            self._kinds, kind, params, secret=secret, settings=self._settings
        )
        request = await submission.kind.admit(submission.params, self._settings)
        submission = dataclasses.replace(submission, request=request)
        if payload is not None:
            return await self._run_with_payload(submission, payload)
        live = self._live
        # Jobs that would wait if this one were queued: those a free slot takes at once do not.
        waiting = len(live.queue) + self._reserved + 1 - self._slots.free(kind)
        if waiting > self._settings.jobs.max_queued:
            retry = live.tally.retry_after_s(slots=self._settings.jobs.max_running)
            raise Busy(
                f"{len(live.queue)} jobs are waiting, as many as [jobs] max_queued allows: "
                f"try again in {retry} s",
                retry_after_s=retry,
            )
        entry = self._entry(submission)
        self._reserved += 1
        try:
            await live.store.add(entry.job)
        finally:
            self._reserved -= 1
        if self._draining:
            # The drain began while the job was being stored, and may have emptied the line
            # already: queued now, it would never start and stay "queued" after the stop.
            await live.finish(entry, stopped(entry.job, JobState.INTERRUPTED))
            return entry.job
        live.enqueue(entry)
        # DEBUG: the request's access line names the job, and the job's own lines say when it
        # starts and how it ends; each INFO line per submission costs 5-10% of the rate.
        _log.debug("job %s (%s) queued", entry.job.id, kind)
        return entry.job

    async def get(self, job_id: str) -> Job:
        """The job's latest snapshot; NotFound if there is no such job."""
        job = self._live.known(job_id)
        if job is None and is_job_id(job_id):
            job = await self._live.store.get(job_id)
        if job is None:
            raise NotFound(f"no job has the id {job_id!r}")
        return job

    async def list(
        self,
        *,
        status: JobState | None = None,
        kind: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> tuple[builtins.list[Job], str | None]:
        """A page of jobs, newest first, and the cursor of the next page (None on the last)."""
        if not 1 <= limit <= MAX_PAGE:
            raise BadParam(f"limit {limit}: must be from 1 to {MAX_PAGE}", field="limit")
        if cursor is not None and not is_job_id(cursor):
            raise BadParam(f"cursor {cursor!r}: must be a job id from a page", field="cursor")
        found = await self._live.store.list(status=status, kind=kind, limit=limit + 1, after=cursor)
        page = [self._live.latest(job) for job in found[:limit]]
        return page, page[-1].id if len(found) > limit else None

    async def cancel(self, job_id: str) -> Job:
        """Cancel a queued or running job; it as it ended (or, if its run is slow to stop, as it
        is after 10 s). NotFound if there is no such job, Conflict if it has finished."""
        entry = self._live.active.get(job_id)
        job = entry.job if entry is not None else await self.get(job_id)
        if entry is None or job.finished:
            raise Conflict(
                f"job {job_id} is {job.status}: only a queued or running job can be cancelled"
            )
        if self._live.queue.remove(entry):
            await self._live.finish(entry, stopped(entry.job, JobState.CANCELLED))
            return entry.job
        entry.stop(JobState.CANCELLED)
        with anyio.move_on_after(_CANCEL_WAIT_S):
            await entry.done.wait()
        return entry.latest()

    async def artifact(self, job_id: str) -> tuple[Path, str]:
        """The finished job's artifact file and media type; NotFound, or Conflict saying why
        there is none (not finished yet, ended without one, or a job that makes no file).

        A job that failed in part (a pipeline with a failed item) keeps its artifact."""
        job = await self.get(job_id)
        if not job.finished:
            raise Conflict(f"job {job_id} is {job.status}: its artifact comes once it succeeds")
        if job.status is not JobState.SUCCEEDED and job.artifact is None:
            raise Conflict(f"job {job_id} {job.status}: it made no artifact")
        if job.artifact is None:
            raise Conflict(f"job {job_id} made no artifact: its result is in the job itself")
        try:
            path = self._live.artifacts.resolve(job.artifact)
        except ValueError:
            path = None
        if path is None or not await anyio.Path(path).is_file():
            raise NotFound(f"the artifact of job {job_id} is gone from the artifacts directory")
        return path, job.artifact_type or "application/octet-stream"

    async def events(self, job_id: str) -> AsyncIterator[Job]:
        """The job's snapshot now, then each change, ending after its terminal snapshot.

        Progress comes at most about ten times a second. A slow reader skips progress, never a
        state change. NotFound (from the first iteration) if there is no such job.
        """
        entry = self._live.active.get(job_id)
        if entry is None:
            yield await self.get(job_id)
            return
        with entry.subscribe(entry.latest()) as subscription:
            async for job in subscription:
                yield job

    async def drain(self, grace_s: float) -> None:
        """Take no new jobs; give queued and running ones ``grace_s`` to finish, then end the
        rest ``interrupted``."""
        self._draining = True
        self._slots.refuse_uploads()
        with anyio.move_on_after(grace_s):
            await self._live.idle()
        self._slots.stop()  # before the line is emptied, so no job in it starts meanwhile
        waiting = list(self._live.queue)
        self._live.queue.clear()
        await self._live.finish_waiting(waiting, JobState.INTERRUPTED)
        await self._stop_running()

    async def sweep(self, *, at: float | None = None) -> int:
        """Delete jobs finished ``[jobs] retention_s`` before ``at`` (default: now) and their
        files; how many. The manager does this by itself every few minutes."""
        cutoff = (now() if at is None else at) - self._settings.jobs.retention_s
        return await sweep(self._live.store, self._live.artifacts, cutoff)

    def stats(self) -> JobStats:
        """Counts of queued, running and (since the manager started) finished jobs."""
        return self._live.stats(draining=self._draining)

    def _admit(self) -> None:
        if self._draining or self._live.closing:
            raise Draining("the daemon is stopping and takes no new jobs")
        if self._group is None:
            raise RuntimeError("the job manager is not running: enter it with 'async with'")

    def _entry(self, submission: Submission, payload: AsyncIterable[bytes] | None = None) -> Entry:
        kind = submission.kind
        job = Job(
            id=new_job_id(),
            kind=kind.name,
            status=JobState.QUEUED,
            params=submission.stored,
            created_at=now(),
            needs_secret=submission.held_back,
        )
        return Entry(
            job,
            kind,
            submission.params,
            secret=submission.secret,
            request=submission.request,
            payload=payload,
        )

    async def _run_with_payload(self, submission: Submission, payload: AsyncIterable[bytes]) -> Job:
        async with self._slots.held(submission.kind.name):
            limit = self._settings.crypto.max_payload_bytes
            async with aclosing(bounded(payload, limit)) as stream:
                entry = self._entry(submission, stream)
                await self._live.execute(entry)
                return entry.job

    async def _stop_running(self) -> None:
        self._slots.stop()
        running = [entry for entry in self._live.active.values() if entry.dispatched]
        for entry in running:
            entry.stop(JobState.INTERRUPTED)
        for entry in running:
            await entry.done.wait()
