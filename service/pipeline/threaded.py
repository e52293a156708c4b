"""The thread engine: the same stages on item 55's worker threads and closable queues.

``adapters.threads.run_thread_pipeline`` moves the items between bounded queues on plain
threads; each stage call goes back to the event loop (``from_thread.run``) to make the very
same :meth:`Stage.attempt` the async engine makes - same runners, time limits and retries -
so both engines give the same manifest. The async code drives the whole through ``to_thread``:
cancelling it stops the threads (calls in flight are cancelled, queues aborted, threads
joined) before the cancellation goes on.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterable, Callable, Iterable, Sequence
from functools import partial
from typing import final

import anyio
from anyio import CapacityLimiter, create_task_group, from_thread, to_thread
from anyio.lowlevel import EventLoopToken, current_token

from adapters.threads import Dropped, Passed, ThreadStage, run_thread_pipeline
from service.pipeline.engine import bound
from service.pipeline.manifest import Manifest, Outcome, Progress, StageCounts
from service.pipeline.stage import Attempted, Stage

__all__ = ["run_pipeline_threads"]


class _ItemFailed(Exception):
    """Carries a failed attempt out of a stage call, so the thread engine drops the item."""

    def __init__(self, done: Attempted) -> None:
        super().__init__(str(done.error))
        self.done = done


class _Stopped(Exception):
    """Raised in a stage call once the run is being stopped."""


@final
class _Book:
    """The run's counters and attempts, kept on the event loop (calls come back to it)."""

    __slots__ = ("attempts", "counts", "in_flight", "peak", "progress", "stopping")

    def __init__(self, stages: Sequence[Stage], progress: Progress | None) -> None:
        self.counts = tuple(StageCounts(stage.name) for stage in stages)
        self.attempts: dict[int, dict[str, int]] = {}
        self.in_flight = 0
        self.peak = 0
        self.progress = progress
        self.stopping = anyio.Event()

    def report(self) -> None:
        if self.progress is not None:
            self.progress(self.counts)


async def run_pipeline_threads(
    stages: Sequence[Stage],
    sources: Iterable[str] | AsyncIterable[str],
    *,
    buffer: int = 1,
    progress: Progress | None = None,
    seed: int | None = None,
) -> Manifest:
    """As :func:`service.pipeline.run_pipeline`, on the thread engine."""
    if not stages:
        raise ValueError("a pipeline needs at least one stage")
    items = [s async for s in sources] if isinstance(sources, AsyncIterable) else list(sources)
    book = _Book(stages, progress)
    rng = random.Random(seed)
    token = current_token()
    crews = [
        ThreadStage(stage.name, _caller(stage, k, len(stages), book, rng, token), stage.workers)
        for k, stage in enumerate(stages)
    ]
    entries = await to_thread.run_sync(
        partial(
            run_thread_pipeline,
            crews,
            list(enumerate(items)),
            buffer=max(1, buffer),
            check=from_thread.check_cancelled,
            on_stop=partial(from_thread.run_sync, book.stopping.set),
        )
    )
    outcomes = sorted((_outcome(entry, items, book) for entry in entries), key=lambda o: o.index)
    return Manifest(tuple(outcomes), book.peak, bound(stages, buffer) + max(1, buffer))


def _caller(
    stage: Stage,
    k: int,
    stages: int,
    book: _Book,
    rng: random.Random,
    token: EventLoopToken,
) -> Callable[[object], object]:
    limiter = CapacityLimiter(stage.workers)
    counts = book.counts[k]

    async def attempt(pair: tuple[int, object]) -> tuple[int, object]:
        index, value = pair
        if book.stopping.is_set():
            raise _Stopped
        counts.received += 1
        counts.in_flight += 1
        if k == 0:
            book.in_flight += 1
            book.peak = max(book.peak, book.in_flight)
        book.report()
        done: Attempted | None = None
        try:
            async with create_task_group() as group:
                group.start_soon(_cancel_when_stopping, book.stopping, group.cancel_scope)
                done = await stage.attempt(value, rng=rng, limiter=limiter)
                group.cancel_scope.cancel()
        finally:
            counts.in_flight -= 1
        if done is None:
            raise _Stopped
        book.attempts.setdefault(index, {})[stage.name] = done.attempts
        counts.retries += done.attempts - 1
        last = done.error is not None or k == stages - 1
        if last:
            book.in_flight -= 1
        if done.error is not None:
            counts.failed += 1
            book.report()
            raise _ItemFailed(done)
        counts.passed += 1
        book.report()
        return index, done.value

    def call(pair: object) -> object:
        assert isinstance(pair, tuple)
        return from_thread.run(attempt, pair, token=token)

    return call


async def _cancel_when_stopping(stopping: anyio.Event, scope: anyio.CancelScope) -> None:
    await stopping.wait()
    scope.cancel()


def _outcome(entry: Passed | Dropped, items: list[str], book: _Book) -> Outcome:
    attempts = book.attempts.get(entry.index, {})
    source = items[entry.index]
    if isinstance(entry, Passed):
        assert isinstance(entry.value, tuple)
        _, value = entry.value
        return Outcome(entry.index, source, value, attempts=attempts)
    error = entry.error.done.error if isinstance(entry.error, _ItemFailed) else entry.error
    assert error is not None
    return Outcome(
        entry.index,
        source,
        None,
        entry.stage,
        str(error) or type(error).__name__,
        type(error).__name__,
        attempts,
    )
