"""The async stage engine: stages joined by bounded memory object streams, in one task group.

A feeder puts the sources into the first stream; each stage's workers take items from their
stream, call the stage, and pass the result on (or, for the last stage, into the manifest).
Every stream has a bounded buffer and every worker holds one item, so at most
``1 + sum(buffer + workers)`` items are in flight, however many there are in all: memory is
proportional to buffers and workers, never to the input. An item that fails is recorded with
its stage and reason and goes no further; the others go on.

Nothing busy-waits and nothing is left behind: a worker sleeps in ``receive`` until an item or
the end of its stream arrives, the end of a stream ripples down as each stage's last worker
leaves, and cancelling the run cancels every task in the group (threads finish their call,
process workers are killed).
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterable, Iterable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import final

import anyio
from anyio import CapacityLimiter, create_task_group
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from service.pipeline.manifest import Manifest, Outcome, Progress, StageCounts
from service.pipeline.stage import Attempted, Stage

__all__ = ["bound", "run_pipeline"]


@dataclass(slots=True)
class _Item:
    index: int
    source: str
    value: object
    attempts: dict[str, int] = field(default_factory=dict)


@final
class _Run:
    """The run's shared state: counters, outcomes, and the items in flight."""

    __slots__ = ("counts", "in_flight", "outcomes", "peak", "progress")

    def __init__(self, stages: Sequence[Stage], progress: Progress | None) -> None:
        self.counts = tuple(StageCounts(stage.name) for stage in stages)
        self.outcomes: list[Outcome] = []
        self.in_flight = 0
        self.peak = 0
        self.progress = progress

    def started(self) -> None:
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)

    def finished(self, item: _Item, stage: str, done: Attempted) -> None:
        self.in_flight -= 1
        error = done.error
        self.outcomes.append(
            Outcome(
                item.index,
                item.source,
                done.value if error is None else None,
                None if error is None else stage,
                None if error is None else (str(error) or type(error).__name__),
                None if error is None else type(error).__name__,
                dict(item.attempts),
            )
        )

    def report(self) -> None:
        if self.progress is not None:
            self.progress(self.counts)


def bound(stages: Sequence[Stage], buffer: int) -> int:
    """The most items a run can hold at once: the feeder's, every buffer's, every worker's."""
    return 1 + sum(buffer + stage.workers for stage in stages)


async def run_pipeline(
    stages: Sequence[Stage],
    sources: Iterable[str] | AsyncIterable[str],
    *,
    buffer: int = 1,
    progress: Progress | None = None,
    seed: int | None = None,
) -> Manifest:
    """Run every source through every stage; the manifest lists each item's outcome.

    The first stage is called with the source string itself. ``seed`` fixes the retry jitter.
    """
    if not stages:
        raise ValueError("a pipeline needs at least one stage")
    if buffer < 0:
        raise ValueError(f"buffer {buffer}: must be 0 or more")
    run = _Run(stages, progress)
    rng = random.Random(seed)
    streams = [anyio.create_memory_object_stream[_Item](buffer) for _ in stages]
    async with create_task_group() as group:
        group.start_soon(_feed, sources, streams[0][0], run)
        for index, stage in enumerate(stages):
            inbox = streams[index][1]
            outbox = streams[index + 1][0] if index + 1 < len(stages) else None
            limiter = CapacityLimiter(stage.workers)
            for _ in range(stage.workers):
                group.start_soon(
                    _work,
                    stage,
                    run.counts[index],
                    inbox.clone(),
                    outbox.clone() if outbox is not None else None,
                    run,
                    limiter,
                    rng,
                )
            # The clones are the workers'; a stream ends when its last clone closes.
            inbox.close()
            if outbox is not None:
                outbox.close()
    outcomes = tuple(sorted(run.outcomes, key=lambda outcome: outcome.index))
    return Manifest(outcomes, run.peak, bound(stages, buffer))


async def _feed(
    sources: Iterable[str] | AsyncIterable[str],
    outbox: MemoryObjectSendStream[_Item],
    run: _Run,
) -> None:
    index = 0

    async def put(source: str) -> None:
        nonlocal index
        run.started()
        await outbox.send(_Item(index, source, source))
        index += 1

    async with outbox:
        if not isinstance(sources, AsyncIterable):
            for source in sources:
                await put(source)
            return
        try:
            async for source in sources:
                await put(source)
        finally:
            # An async generator stopped mid-way is closed here, in its task, not later by
            # the garbage collector where its clean-up cannot run as it should.
            close = getattr(sources, "aclose", None)
            if close is not None:
                await close()


async def _work(
    stage: Stage,
    counts: StageCounts,
    inbox: MemoryObjectReceiveStream[_Item],
    outbox: MemoryObjectSendStream[_Item] | None,
    run: _Run,
    limiter: CapacityLimiter,
    rng: random.Random,
) -> None:
    with inbox, outbox if outbox is not None else nullcontext():
        async for item in inbox:
            counts.received += 1
            counts.in_flight += 1
            run.report()
            try:
                done = await stage.attempt(item.value, rng=rng, limiter=limiter)
            finally:
                counts.in_flight -= 1
            item.attempts[stage.name] = done.attempts
            counts.retries += done.attempts - 1
            if done.error is not None:
                counts.failed += 1
                run.finished(item, stage.name, done)
            elif outbox is not None:
                counts.passed += 1
                item.value = done.value
                run.report()
                await outbox.send(item)
                continue
            else:
                counts.passed += 1
                run.finished(item, stage.name, done)
            run.report()
