"""What every fan-out strategy promises; each strategy's test module subclasses the contract.

- It computes what the serial strategy computes with the reference engine: any engine, any
  topology (an infinite universe grows between dispatches), any chunking.
- Cancelled, it stops within one dispatch and leaves no thread or process of ours behind.
- A chunk's exception fails the dispatch as itself, never a hang; the next dispatch is right.

Counts, never times: deadlines only start a cancellation; what is checked is how much ran.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Final, final

import anyio
import anyio.lowlevel
import numpy as np
import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.config import LifeSettings
from service.life.fanout import Chunking, FanoutStepper
from service.life.pattern import Cells, Pattern
from service.life.rules import CONWAY, Rule
from service.life.run import run_life_async
from service.life.strategies import Strategy, make_strategy
from service.life.strategies.serial import Serial
from service.life.topology import KINDS, Topology
from service.life.universe import Stepper, place, step_universe
from tests.life.strategies import _jobs

__all__ = ["LIMITS", "WORKERS", "StrategyContract", "assert_nothing_left", "soup"]

# Cell chunks on a growing infinite universe start hundreds of threads a dispatch.
LIMITS: Final = LifeSettings(max_threads=4096)
WORKERS: Final = 3
ENGINES: Final = ["reference", "numpy", "bitpacked"]
R_PENTOMINO: Final = np.array([[0, 1, 1], [1, 1, 0], [0, 1, 0]], dtype=np.uint8)
NAMED_RULES: Final = [
    CONWAY,
    Rule(frozenset({3, 6}), frozenset({2, 3})),  # HighLife
    Rule(frozenset({2}), frozenset()),  # Seeds: explodes, so an infinite grid grows fast
    Rule(frozenset({3, 6, 7, 8}), frozenset({3, 4, 6, 7, 8})),  # Day & Night
]
CANCEL_JOBS: Final = 60

Frames = list[tuple[int, int, int, Cells]]
"""(generation, x, y, cells) of every snapshot, and (-1, x, y, cells) of the result."""


def soup(height: int, width: int, seed: int, density: float = 0.4) -> Cells:
    cells: Cells = (np.random.default_rng(seed).random((height, width)) < density).astype(np.uint8)
    return cells


def ours() -> list[str]:
    return [thread.name for thread in threading.enumerate() if thread.name.startswith("life-")]


def assert_nothing_left(pids: Sequence[int] = ()) -> None:
    """No thread of ours is alive, no child process, and none of ``pids`` exists any more."""
    assert ours() == []
    assert multiprocessing.active_children() == []
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


@final
@dataclass(frozen=True, slots=True)
class Case:
    pattern: Pattern
    rule: Rule
    topology: Topology
    generations: int
    chunking: Chunking
    every: int


def draw_case(data: st.DataObject, engine: str) -> Case:
    """A small universe to step; cell chunks (reference engine only) on smaller ones."""
    kinds = ["default", "rows", "cells"] if engine == "reference" else ["default", "rows"]
    chunk = data.draw(st.sampled_from(kinds), label="chunk")
    by_cell = chunk == "cells"
    rows = data.draw(st.integers(1, 24), label="rows") if chunk == "rows" else None
    rule = data.draw(
        st.one_of(
            st.sampled_from(NAMED_RULES),
            st.builds(Rule, st.frozensets(st.integers(1, 8)), st.frozensets(st.integers(0, 8))),
        ),
        label="rule",
    )
    kind = data.draw(st.sampled_from(KINDS), label="topology")
    seed = data.draw(st.integers(0, 2**16), label="seed")
    density = data.draw(st.sampled_from([0.2, 0.4, 0.6]), label="density")
    if kind == "infinite":
        side = data.draw(st.integers(2, 5), label="side")
        cells = data.draw(st.sampled_from([R_PENTOMINO, soup(side, side, seed, density)]))
        pattern, topology = Pattern(cells, seed % 7 - 3, seed % 5 - 2), Topology()
    else:
        largest = 10 if by_cell else 24
        height = data.draw(st.integers(1, largest), label="height")
        width = data.draw(st.integers(1, largest), label="width")
        pattern = Pattern(soup(height, width, seed, density))
        topology = Topology(kind, width, height)
    return Case(
        pattern,
        rule,
        topology,
        data.draw(st.integers(0, 5 if by_cell else 8), label="generations"),
        Chunking(cells=True) if by_cell else Chunking(rows=rows),
        data.draw(st.sampled_from([0, 1, 2, 3]), label="every"),
    )


async def frames(case: Case, stepper: Stepper) -> Frames:
    """The snapshots of a run (every ``every`` generations and the last), then its result."""
    seen: Frames = []

    def keep(generation: int, pattern: Pattern) -> None:
        seen.append((generation, pattern.x, pattern.y, pattern.cells.copy()))

    stepped = await step_universe(
        place(case.pattern, case.topology),
        case.rule,
        case.topology,
        case.generations,
        stepper=stepper,
        max_cells=LIMITS.max_cells,
        every=case.every,
        snapshot=keep,
    )
    keep(-1, stepped.pattern)
    return seen


def assert_same_frames(got: Frames, expected: Frames) -> None:
    assert [frame[0] for frame in got] == [frame[0] for frame in expected]
    for (generation, x, y, cells), (_, at_x, at_y, reference) in zip(got, expected, strict=True):
        where = f"generation {generation}" if generation >= 0 else "the result"
        assert (x, y) == (at_x, at_y), f"{where} is placed elsewhere"
        np.testing.assert_array_equal(cells, reference, err_msg=f"{where} differs")


async def serial_reference(case: Case) -> Frames:
    async with Serial() as serial:
        return await frames(case, FanoutStepper("reference", serial, Chunking()))


@final
class Recording:
    """A stepper that notes the shape of every grid it is handed."""

    __slots__ = ("inner", "shapes")

    def __init__(self, inner: FanoutStepper) -> None:
        self.inner = inner
        self.shapes: list[tuple[int, ...]] = []

    @property
    def rate_hint(self) -> float:
        return self.inner.rate_hint

    async def advance(
        self, cells: Cells, rule: Rule, generations: int, *, wrap_x: bool, wrap_y: bool
    ) -> Cells:
        self.shapes.append(cells.shape)
        return await self.inner.advance(cells, rule, generations, wrap_x=wrap_x, wrap_y=wrap_y)


def started(directory: Path) -> int:
    """How many :func:`_jobs.mark_slowly` jobs have started."""
    return len(list(directory.iterdir()))


async def cancel_once_a_job_started(scope: anyio.CancelScope, directory: Path) -> None:
    # The jobs may run in other processes: a file is the one signal every strategy can give.
    while not started(directory):  # noqa: ASYNC110  # polling: there is no event to wait on
        await anyio.sleep(0.005)
    scope.cancel()


class StrategyContract:
    """The tests every strategy passes; a subclass sets ``name`` (and what differs)."""

    name: ClassVar[str]
    workers: ClassVar[int] = WORKERS
    skips_chunks_not_started: ClassVar[bool] = True
    """False for a strategy that starts every chunk of a dispatch at once."""

    @pytest.fixture(autouse=True)
    def nothing_left_behind(self) -> Iterator[None]:
        yield
        assert_nothing_left()

    @pytest.fixture
    async def running(self, anyio_backend: str) -> AsyncIterator[Strategy]:
        """The strategy, entered for a whole test."""
        async with make_strategy(self.name, workers=WORKERS, limits=LIMITS) as strategy:
            yield strategy

    # --- what it computes -----------------------------------------------------------------

    @pytest.fixture
    def portal(self, anyio_backend: str) -> Iterator[tuple[BlockingPortal, Strategy]]:
        """The strategy, entered once on an event loop of its own, for a property's examples.

        The examples run synchronously and call into the loop: hypothesis stops an example by
        raising a BaseException from a draw, which must not cross anyio's test runner.
        """
        with (
            start_blocking_portal(anyio_backend) as portal,
            portal.wrap_async_context_manager(
                make_strategy(self.name, workers=WORKERS, limits=LIMITS)
            ) as strategy,
        ):
            yield portal, strategy

    @pytest.mark.parametrize("engine", ENGINES)
    @given(data=st.data())
    @settings(
        max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
    )
    def test_it_equals_the_serial_reference(
        self, portal: tuple[BlockingPortal, Strategy], engine: str, data: st.DataObject
    ) -> None:
        loop, strategy = portal
        case = draw_case(data, engine)
        got = loop.call(frames, case, FanoutStepper(engine, strategy, case.chunking))
        assert_same_frames(got, loop.call(serial_reference, case))

    @pytest.mark.anyio
    async def test_an_infinite_universe_grows_between_dispatches(self, running: Strategy) -> None:
        case = Case(Pattern(R_PENTOMINO), CONWAY, Topology(), 12, Chunking(rows=2), every=1)
        recording = Recording(FanoutStepper("bitpacked", running, case.chunking))
        got = await frames(case, recording)
        assert_same_frames(got, await serial_reference(case))
        assert len(recording.shapes) >= 12
        areas = [height * width for height, width in recording.shapes]
        assert areas[-1] > areas[0]

    @pytest.mark.anyio
    async def test_results_come_back_in_job_order(self, running: Strategy) -> None:
        assert await running.map(_jobs.square, list(range(40))) == [x * x for x in range(40)]
        assert await running.map(_jobs.square, []) == []

    @pytest.mark.anyio
    async def test_the_event_loop_stays_free_during_a_dispatch(self, running: Strategy) -> None:
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                await anyio.lowlevel.checkpoint()
                ticks += 1

        async with anyio.create_task_group() as group:
            group.start_soon(tick)
            await running.map(_jobs.fail_on, [(index, -1) for index in range(12)])
            during = ticks
            group.cancel_scope.cancel()
        assert during > 0

    @pytest.mark.anyio
    async def test_progress_rises_to_all_done(self, anyio_backend: str) -> None:
        calls: list[tuple[int, int]] = []
        result = await run_life_async(
            Pattern(soup(20, 20, seed=1)),
            30,
            limits=LIMITS,
            topology=Topology("torus", 20, 20),
            engine="numpy",
            strategy=self.name,
            workers=WORKERS,
            chunking=Chunking(rows=5),
            progress=lambda done, total: calls.append((done, total)),
            every=7,
            snapshot=lambda generation, pattern: None,
        )
        assert calls == [(7, 30), (14, 30), (21, 30), (28, 30), (30, 30)]
        summary = result.summary()
        assert summary["strategy"] == self.name
        assert summary["workers"] == self.workers
        assert summary["chunks"] == 4
        assert summary["peak_threads"] >= 1

    # --- cancellation ---------------------------------------------------------------------

    @pytest.mark.anyio
    async def test_cancelled_from_progress_no_further_dispatch_runs(
        self, anyio_backend: str
    ) -> None:
        done: list[int] = []
        snapshots: list[int] = []
        pids: list[int] = []
        with anyio.CancelScope() as scope:

            def progress(generation: int, total: int) -> None:
                done.append(generation)
                pids.extend(child.pid or 0 for child in multiprocessing.active_children())
                scope.cancel()

            # Every round is one generation, one dispatch: progress comes after each.
            await run_life_async(
                Pattern(soup(48, 48, seed=2)),
                200,
                limits=LIMITS,
                topology=Topology("torus", 48, 48),
                engine="numpy",
                strategy=self.name,
                workers=WORKERS,
                chunking=Chunking(rows=8),
                progress=progress,
                every=1,
                snapshot=lambda generation, pattern: snapshots.append(generation),
            )
        assert scope.cancelled_caught
        assert done == [1]
        assert snapshots == [0, 1]
        assert_nothing_left(pids)

    @pytest.mark.anyio
    async def test_a_deadline_stops_a_long_run_part_way(self, anyio_backend: str) -> None:
        done: list[int] = []
        with anyio.move_on_after(0.5) as scope:
            await run_life_async(
                Pattern(soup(64, 64, seed=3)),
                LIMITS.max_generations,
                limits=LIMITS,
                topology=Topology("torus", 64, 64),
                engine="numpy",
                strategy=self.name,
                workers=WORKERS,
                chunking=Chunking(rows=8),
                progress=lambda generation, total: done.append(generation),
                every=100,
                snapshot=lambda generation, pattern: None,
            )
        assert scope.cancelled_caught
        assert not done or done[-1] < LIMITS.max_generations
        assert_nothing_left()

    @pytest.mark.anyio
    async def test_cancelling_a_dispatch_stops_it(self, anyio_backend: str, tmp_path: Path) -> None:
        jobs = [(str(tmp_path), index) for index in range(CANCEL_JOBS)]
        with anyio.CancelScope() as scope:
            async with anyio.create_task_group() as group:
                group.start_soon(cancel_once_a_job_started, scope, tmp_path)
                async with make_strategy(self.name, workers=WORKERS, limits=LIMITS) as strategy:
                    await strategy.map(_jobs.mark_slowly, jobs)
        assert scope.cancelled_caught
        assert started(tmp_path) >= 1
        if self.skips_chunks_not_started:
            assert started(tmp_path) < len(jobs)
        assert_nothing_left()

    @pytest.mark.anyio
    async def test_after_a_cancelled_dispatch_the_next_one_is_right(
        self, running: Strategy, tmp_path: Path
    ) -> None:
        jobs = [(str(tmp_path), index) for index in range(CANCEL_JOBS)]
        with anyio.CancelScope() as scope:
            async with anyio.create_task_group() as group:
                group.start_soon(cancel_once_a_job_started, scope, tmp_path)
                await running.map(_jobs.mark_slowly, jobs)
        assert scope.cancelled_caught
        assert await running.map(_jobs.square, list(range(30))) == [x * x for x in range(30)]

    # --- failures -------------------------------------------------------------------------

    @pytest.mark.anyio
    async def test_a_failing_chunk_fails_the_dispatch_with_its_exception(
        self, anyio_backend: str
    ) -> None:
        jobs = [(index, 5) for index in range(12)]
        with pytest.raises(ValueError, match="chunk 5 failed") as caught:
            async with make_strategy(self.name, workers=WORKERS, limits=LIMITS) as strategy:
                await strategy.map(_jobs.fail_on, jobs)
        # The same type and message (a worker process adds its traceback as a note).
        assert type(caught.value) is ValueError
        assert str(caught.value) == "chunk 5 failed"
        assert_nothing_left()

    @pytest.mark.anyio
    async def test_after_a_failed_dispatch_the_next_one_is_right(self, running: Strategy) -> None:
        with pytest.raises(ValueError, match="chunk 1 failed"):
            await running.map(_jobs.fail_on, [(index, 1) for index in range(12)])
        assert await running.map(_jobs.fail_on, [(index, -1) for index in range(12)]) == list(
            range(12)
        )

    # --- what it says about itself ---------------------------------------------------------

    def test_it_names_itself(self) -> None:
        strategy = make_strategy(self.name, workers=WORKERS, limits=LIMITS)
        assert strategy.name == self.name
        assert strategy.workers == self.workers
        assert strategy.shared_memory is (self.name == "processes")
        assert repr(strategy).startswith("<")
