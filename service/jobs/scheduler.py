"""The scheduler: the live jobs, the line they wait in, the slots they run in, and each run.

It is one module, as aiojobs' scheduler is, because its parts are one state machine: an
``Entry`` waits in the ``WaitingLine``, takes one of the ``Slots``, runs once (``attempt``)
and ends, and ``LiveJobs`` records every move (store, then publish). Splitting it into files
spread one invariant (a job's writes in order, its end never lost) over five of them; it is
longer than ~300 lines for that reason, in five sections in the order a job meets them:

**Entry.** A job the manager holds while it is queued or running, with what only memory may
keep (its secret, its payload, its channel of snapshots).

**WaitingLine.** The queued jobs, first come first served among the kinds that may start one.

Each kind waits in a line of its own, and every entry carries its number of arrival, so the
first entry of the whole line is the earliest of the kinds' first ones. ``pop`` asks about
each kind in that order and takes the first entry of the first kind that may start: a job
whose kind is at its ``[jobs] max_running_<kind>`` lets later jobs of other kinds pass it,
without walking the thousands that may wait behind it.

The kinds ``pop`` was refused stay refused until ``notify`` (a slot of a kind was given back):
until then a job of such a kind arriving wakes no waiter of ``changed``, so a flood of one kind
at its bound does not wake the dispatcher for every job only to be refused again.

**Slots.** The ``[jobs] max_running`` running slots, shared by queued jobs and uploads, and
each kind's own bound (``[jobs] max_running_<kind>``) within them.

Queued jobs get theirs from the dispatcher, which takes a slot once one is free and starts the
first job in line whose kind is below its bound, in the manager's task group. An upload cannot
wait in the line (its payload is the caller's request body), so its caller waits for a slot
itself: its kind's first, then one of the total, so that while it waits it holds none that a
job of another kind could use. The dispatcher never waits while it holds a slot. Each bound is
a ``CapacityLimiter``, first come first served; a slot is held on behalf of a token rather than
a task, because the dispatcher takes it and the job's task gives it back.

**attempt.** One run of one kind: its time limit, its outcome checked, every error turned
into a snapshot.

``attempt`` never raises an ``Exception``: a kind that fails, crashes or returns something
unusable gives a ``failed`` snapshot, so no job can bring the manager down. Cancellation is the
one thing that passes through (the manager decides whether that means cancelled or
interrupted).

**LiveJobs.** The live jobs (queued or running) and every move they make: run, report, end,
be recorded.

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

import heapq
import itertools
import logging
from collections import deque
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterator,
    Mapping,
    Sequence,
)
from contextlib import asynccontextmanager
from functools import partial
from typing import Any, Final, final

import anyio
import msgspec
from anyio.abc import TaskGroup

from service.config import Settings
from service.crypto import Password
from service.errors import Draining, FanoutError, TimedOut
from service.jobs.artifacts import Artifacts, sync_artifact
from service.jobs.context import ProcessWorkers, RunContext
from service.jobs.events import Channel, Subscription
from service.jobs.kind import Kind, Outcome
from service.jobs.model import Job, JobState
from service.jobs.stats import JobStats, Tally
from service.jobs.store import JobStore
from service.jobs.transitions import failed, partly_failed, started, stopped, succeeded

__all__ = [
    "PROGRESS_EVERY_S",
    "STORE_EVERY_S",
    "Entry",
    "LiveJobs",
    "Slots",
    "WaitingLine",
    "attempt",
]


# --- the entry of a live job ------------------------------------------------------------------


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
        "request",
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
        secret: Password | None = None,
        request: object | None = None,
        payload: AsyncIterable[bytes] | None = None,
    ) -> None:
        self.job = job
        self.kind = kind
        self.params = params
        self.secret = secret
        self.request = request
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


# --- the line of queued jobs ------------------------------------------------------------------


@final
class WaitingLine:
    """Queued entries, a line per kind; a cancelled one leaves the line at once."""

    __slots__ = ("_arrivals", "_changed", "_kinds", "_refused", "_size")

    def __init__(self) -> None:
        self._kinds: dict[str, deque[tuple[int, Entry]]] = {}
        self._arrivals = itertools.count()
        self._size = 0
        self._changed = anyio.Event()
        self._refused: set[str] = set()  # kinds the last ``pop`` could not start, until notified

    def __repr__(self) -> str:
        return f"<WaitingLine {self._size} waiting>"

    def __len__(self) -> int:
        return self._size

    def __iter__(self) -> Iterator[Entry]:
        """Every entry, in the order they arrived."""
        return (entry for _, entry in heapq.merge(*self._kinds.values()))

    @property
    def by_kind(self) -> Mapping[str, int]:
        """How many jobs of each kind wait (kinds with none are left out)."""
        return {kind: len(line) for kind, line in self._kinds.items() if line}

    def append(self, entry: Entry) -> None:
        line = self._kinds.get(entry.job.kind)
        if line is None:
            line = self._kinds[entry.job.kind] = deque()
        line.append((next(self._arrivals), entry))
        self._size += 1
        if entry.job.kind not in self._refused:
            self._changed.set()

    def remove(self, entry: Entry) -> bool:
        """Take ``entry`` out of the line; False if it was not in it (it has started)."""
        line = self._kinds.get(entry.job.kind)
        if line is None:
            return False
        for index, (_, waiting) in enumerate(line):
            if waiting is entry:
                del line[index]
                self._size -= 1
                return True
        return False

    def pop(self, may_start: Callable[[str], bool] = lambda kind: True) -> Entry | None:
        """The first entry of the first kind (in the order their first entries arrived) for
        which ``may_start(kind)`` is true, or None. ``may_start`` is asked about a kind at most
        once, and about none after it says yes: it may take that kind's slot as it answers."""
        firsts = sorted((line[0][0], kind) for kind, line in self._kinds.items() if line)
        refused = self._refused = set()
        for _, kind in firsts:
            if may_start(kind):
                self._size -= 1
                return self._kinds[kind].popleft()[1]
            refused.add(kind)
        return None

    def clear(self) -> None:
        self._kinds.clear()
        self._size = 0

    def notify(self) -> None:
        """Wake the waiters of :meth:`changed`: a job that could not start may start now."""
        self._refused.clear()
        self._changed.set()

    async def changed(self) -> None:
        """Return at the next :meth:`notify`, or arrival of a job of a kind the last ``pop``
        did not refuse."""
        if self._changed.is_set():
            self._changed = anyio.Event()
        await self._changed.wait()

    async def wait(self) -> None:
        """Return once the line holds an entry."""
        while not self._size:
            await self.changed()


# --- the running slots ------------------------------------------------------------------------


@final
class Slots:
    """Running slots in total and per kind, the dispatcher that fills them, and uploads
    waiting for one."""

    __slots__ = ("_dispatching", "_kinds", "_limiter", "_line", "_stopped", "_uploads")

    def __init__(self, line: WaitingLine, count: int, per_kind: Mapping[str, int | None]) -> None:
        self._line = line
        self._limiter = anyio.CapacityLimiter(count)
        # A kind's bound at or past the total bounds nothing: such a kind gets no limiter.
        self._kinds = {
            kind: anyio.CapacityLimiter(limit)
            for kind, limit in per_kind.items()
            if limit is not None and limit < count
        }
        self._dispatching: anyio.CancelScope | None = None
        self._uploads: set[anyio.CancelScope] = set()
        self._stopped = False

    def __repr__(self) -> str:
        return f"<Slots {self._limiter.borrowed_tokens}/{self._limiter.total_tokens} taken>"

    def free(self, kind: str) -> float:
        """Slots a job of ``kind`` could take now."""
        free = self._limiter.available_tokens
        own = self._kinds.get(kind)
        return free if own is None else min(free, own.available_tokens)

    async def dispatch(self, group: TaskGroup, run: Callable[[Entry], Awaitable[None]]) -> None:
        """Start the first queued job whose kind may start one in ``group`` whenever a slot
        is free, until stopped."""
        if self._stopped:
            return
        line = self._line
        self._dispatching = anyio.CancelScope()
        with self._dispatching:
            while True:
                await line.wait()
                token = object()
                await self._limiter.acquire_on_behalf_of(token)
                entry = line.pop(partial(self._claim, token=token))
                if entry is None:
                    # Every kind in line is at its own bound (or a cancel emptied the line):
                    # give the slot back, and look again once one of them ends or a job comes.
                    self._limiter.release_on_behalf_of(token)
                    await line.changed()
                    continue
                entry.dispatched = True
                group.start_soon(self._hold, token, run, entry)

    @asynccontextmanager
    async def held(self, kind: str) -> AsyncIterator[None]:
        """Hold a slot for an upload of ``kind``; Draining if a stop cuts the wait short."""
        token = object()
        own = self._kinds.get(kind)
        needed = [self._limiter] if own is None else [own, self._limiter]
        taken: list[anyio.CapacityLimiter] = []
        try:
            with anyio.CancelScope() as waiting:
                self._uploads.add(waiting)
                try:
                    for limiter in needed:
                        await limiter.acquire_on_behalf_of(token)
                        taken.append(limiter)
                finally:
                    self._uploads.discard(waiting)
            if waiting.cancelled_caught:
                raise Draining("the daemon began to stop before the upload could start: try again")
            yield
        finally:
            self._release(token, own if own in taken else None, total=self._limiter in taken)

    def refuse_uploads(self) -> None:
        """End the waits of uploads that have no slot yet (with Draining)."""
        for waiting in list(self._uploads):
            waiting.cancel()

    def stop(self) -> None:
        """Start no more jobs, and refuse waiting uploads."""
        self._stopped = True
        if self._dispatching is not None:
            self._dispatching.cancel()
        self.refuse_uploads()

    def _claim(self, kind: str, token: object) -> bool:
        """Take a slot of ``kind``'s own for ``token`` if one is free now; True if taken (or
        the kind has no bound of its own)."""
        own = self._kinds.get(kind)
        if own is None:
            return True
        try:
            own.acquire_on_behalf_of_nowait(token)
        except anyio.WouldBlock:
            return False
        return True

    def _release(self, token: object, own: anyio.CapacityLimiter | None, *, total: bool) -> None:
        if own is not None:
            own.release_on_behalf_of(token)
            self._line.notify()  # a job of this kind waiting in line may start now
        if total:
            self._limiter.release_on_behalf_of(token)

    async def _hold(
        self, token: object, run: Callable[[Entry], Awaitable[None]], entry: Entry
    ) -> None:
        try:
            await run(entry)
        finally:
            self._release(token, self._kinds.get(entry.job.kind), total=True)


# --- one run of one kind ----------------------------------------------------------------------


async def attempt(
    kind: Kind, params: msgspec.Struct, context: RunContext, artifacts: Artifacts
) -> Job:
    """Run ``kind`` on ``params`` once; the job's ``succeeded`` or ``failed`` snapshot."""
    try:
        outcome = await _run(kind, params, context)
        result, artifact = await _check(outcome, artifacts)
    except Exception as exc:
        latest = msgspec.structs.replace(context.job, progress=context.latest)
        return failed(latest, exc)
    latest = msgspec.structs.replace(context.job, progress=context.latest)
    if outcome.failure is not None:
        return partly_failed(
            latest, result, outcome.failure, artifact=artifact, artifact_type=outcome.media_type
        )
    return succeeded(latest, result, artifact=artifact, artifact_type=outcome.media_type)


async def _run(kind: Kind, params: msgspec.Struct, context: RunContext) -> Outcome:
    limit = kind.timeout_s(context.settings)
    if limit is None:
        return await kind.run(params, context)
    # move_on_after rather than fail_after: a TimeoutError the kind raises itself (a socket's)
    # stays its own error, and only our deadline is reported as the job's time limit. A kind
    # that turns the cancellation into its own error (a killed child) is still timed out.
    message = f"the job ran past its time limit of {limit:g} s and was stopped"
    with anyio.move_on_after(limit) as deadline:
        try:
            return await kind.run(params, context)
        except Exception as exc:
            if deadline.cancel_called:
                raise TimedOut(message) from exc
            raise
    raise TimedOut(message)


async def _check(outcome: Outcome, artifacts: Artifacts) -> tuple[dict[str, Any], str | None]:
    if not isinstance(outcome, Outcome):
        raise FanoutError(f"the job's kind returned {type(outcome).__name__}, not an Outcome")
    try:
        result = msgspec.to_builtins(outcome.result)
    except (TypeError, ValueError) as exc:
        raise FanoutError(f"the job's result cannot be kept as JSON: {exc}") from exc
    if outcome.artifact is None:
        return result, None
    try:
        name = artifacts.relative(outcome.artifact)
    except ValueError as exc:
        raise FanoutError(f"the job's artifact is misplaced: {exc}") from exc
    if not outcome.synced:
        await anyio.to_thread.run_sync(sync_artifact, artifacts.root / name)
    return result, name


# --- the live jobs and their moves ------------------------------------------------------------


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
        self.processes: ProcessWorkers | None = None

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
                    request=entry.request,
                    payload=entry.payload,
                    processes=self.processes,
                )
                final = await attempt(entry.kind, entry.params, entry.context, self.artifacts)
        finally:
            entry.request = None
            if entry.secret is not None:
                entry.secret.wipe()  # the one copy: nothing can run this job again
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
