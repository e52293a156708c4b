"""The fan-out of a step: any chunking and any halo depth steps exactly like the whole grid."""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Final, TypeVar, final

import anyio
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.processes import block_prefix
from service.errors import InvalidInput, LimitExceeded
from service.life.bands import Band, halo_depth
from service.life.engines.reference import ReferenceEngine
from service.life.engines.vectorised import NumpyEngine
from service.life.fanout import CELL_CHUNK_LIMIT, Chunking, FanoutStepper
from service.life.pattern import Cells
from service.life.rules import CONWAY, Rule
from service.life.strategies import BlockingMap, Strategy
from service.life.strategies.coroutines import Coroutines
from service.life.strategies.serial import Serial

T = TypeVar("T")
R = TypeVar("R")

HIGHLIFE: Final = Rule(frozenset({3, 6}), frozenset({2, 3}))
SHM: Final = Path("/dev/shm")


@final
class Counting:
    """The serial strategy with ``workers`` to aim bands at, counting the jobs of each dispatch.

    With ``shared_memory`` the stepper puts its grids in shared memory, as it does for
    processes, while the jobs still run here: the shared path without starting a process.
    ``on_loop``: every dispatch comes through ``map`` on the event loop, as for coroutines,
    instead of all of a step's dispatches through ``blocking`` on one worker thread.
    """

    name: Final = "counting"

    __slots__ = ("_inner", "dispatches", "on_loop", "shared_memory", "workers")

    def __init__(
        self, *, workers: int = 1, shared_memory: bool = False, on_loop: bool = False
    ) -> None:
        self.workers = workers
        self.shared_memory = shared_memory
        self.on_loop = on_loop
        self.dispatches: list[int] = []
        self._inner = Serial()

    @property
    def peak_threads(self) -> int:
        return self._inner.peak_threads

    @property
    def threads_started(self) -> int:
        return self._inner.threads_started

    async def __aenter__(self) -> Counting:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        return None

    async def map(self, fn: Callable[[T], R], jobs: Sequence[T]) -> list[R]:
        self.dispatches.append(len(jobs))
        return await self._inner.map(fn, jobs)

    def blocking(self) -> BlockingMap | None:
        return None if self.on_loop else self._blocking

    def _blocking(self, fn: Callable[[T], R], jobs: Sequence[T]) -> list[R]:
        self.dispatches.append(len(jobs))
        return self._inner.blocking()(fn, jobs)


def soup(height: int, width: int, seed: int, density: float = 0.4) -> Cells:
    cells: Cells = (np.random.default_rng(seed).random((height, width)) < density).astype(np.uint8)
    return cells


@functools.cache
def reference(
    height: int, width: int, seed: int, rule: Rule, generations: int, wrap_x: bool, wrap_y: bool
) -> Cells:
    cells = soup(height, width, seed)
    return ReferenceEngine().advance(cells, rule, generations, wrap_x=wrap_x, wrap_y=wrap_y)


async def fanned(
    cells: Cells,
    rule: Rule,
    generations: int,
    *,
    chunking: Chunking,
    depth: int | None = None,
    wrap_x: bool,
    wrap_y: bool,
    engine: str = "bitpacked",
    strategy: Strategy | None = None,
) -> Cells:
    """Step through a FanoutStepper; ``depth`` fixes the halo depth it would choose itself."""
    with pytest.MonkeyPatch.context() as patch:
        if depth is not None:
            patch.setattr("service.life.fanout.halo_depth", lambda rows, generations: depth)
        async with strategy or Serial() as running:
            stepper = FanoutStepper(engine, running, chunking)
            return await stepper.advance(cells, rule, generations, wrap_x=wrap_x, wrap_y=wrap_y)


# --- bands ----------------------------------------------------------------------------------


@pytest.mark.parametrize("rows", [None, 15, 10, 6], ids=["1-band", "2-bands", "3-bands", "5"])
@pytest.mark.parametrize("depth", [1, 2, 5, 12, None])
@pytest.mark.parametrize("wrap", [True, False], ids=["torus", "plane"])
@pytest.mark.anyio
async def test_bands_equal_the_reference(rows: int | None, depth: int | None, wrap: bool) -> None:
    # 30 rows in up to 5 bands of 6: depth 12 is deeper than a band (the halo spans bands).
    cells = soup(30, 70, seed=rows or 1)
    expected = reference(30, 70, rows or 1, CONWAY, 13, wrap, wrap)
    chunking = Chunking(rows=rows)
    got = await fanned(cells, CONWAY, 13, chunking=chunking, depth=depth, wrap_x=wrap, wrap_y=wrap)
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize(("wrap_x", "wrap_y"), [(True, False), (False, True)])
@pytest.mark.anyio
async def test_bands_with_mixed_edges(wrap_x: bool, wrap_y: bool) -> None:
    cells = soup(40, 130, seed=3)
    expected = NumpyEngine().advance(cells, HIGHLIFE, 25, wrap_x=wrap_x, wrap_y=wrap_y)
    got = await fanned(
        cells, HIGHLIFE, 25, chunking=Chunking(rows=10), depth=7, wrap_x=wrap_x, wrap_y=wrap_y
    )
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("wrap", [True, False], ids=["torus", "plane"])
@pytest.mark.anyio
async def test_depth_deeper_than_the_whole_grid(wrap: bool) -> None:
    # A halo of 50 rows around bands of a 12-row torus wraps round it several times.
    cells = soup(12, 64, seed=5)
    expected = NumpyEngine().advance(cells, CONWAY, 50, wrap_x=wrap, wrap_y=wrap)
    got = await fanned(
        cells, CONWAY, 50, chunking=Chunking(rows=4), depth=50, wrap_x=wrap, wrap_y=wrap
    )
    np.testing.assert_array_equal(got, expected)


# anyio_backend is a name, the same for every example.
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    height=st.sampled_from(range(1, 61)),
    width=st.sampled_from([1, 5, 63, 64, 65, 100, 128, 130]),
    seed=st.integers(0, 2**16),
    birth=st.frozensets(st.integers(0, 8)),
    survival=st.frozensets(st.integers(0, 8)),
    generations=st.sampled_from(range(13)),
    rows=st.one_of(st.none(), st.integers(1, 25)),
    depth=st.one_of(st.none(), st.integers(1, 20)),
    wrap_x=st.booleans(),
    wrap_y=st.booleans(),
    engine=st.sampled_from(["numpy", "bitpacked"]),
)
def test_any_split_and_depth_equal_the_numpy_engine(
    anyio_backend: str,
    height: int,
    width: int,
    seed: int,
    birth: frozenset[int],
    survival: frozenset[int],
    generations: int,
    rows: int | None,
    depth: int | None,
    wrap_x: bool,
    wrap_y: bool,
    engine: str,
) -> None:
    cells, rule = soup(height, width, seed), Rule(birth, survival)
    expected = NumpyEngine().advance(cells, rule, generations, wrap_x=wrap_x, wrap_y=wrap_y)
    # Synchronous, an event loop an example: hypothesis ends examples with BaseExceptions
    # that must not cross anyio's test runner.
    step = functools.partial(
        fanned,
        chunking=Chunking(rows=rows),
        depth=depth,
        wrap_x=wrap_x,
        wrap_y=wrap_y,
        engine=engine,
    )
    got = anyio.run(step, cells, rule, generations, backend=anyio_backend)
    np.testing.assert_array_equal(got, expected)


@pytest.mark.anyio
async def test_a_plane_edge_stays_dead_across_a_deep_round() -> None:
    # A blinker lying along the top edge: a dead halo row above it would come alive and, a
    # generation later, feed births back into the grid.
    cells = np.zeros((20, 8), dtype=np.uint8)
    cells[0, 2:5] = 1
    expected = ReferenceEngine().advance(cells, CONWAY, 6, wrap_x=False, wrap_y=False)
    got = await fanned(
        cells, CONWAY, 6, chunking=Chunking(rows=10), depth=6, wrap_x=False, wrap_y=False
    )
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("on_loop", [False, True], ids=["one-thread", "on-loop"])
@pytest.mark.anyio
async def test_one_dispatch_per_meeting_with_one_job_a_band(on_loop: bool) -> None:
    counting = Counting(on_loop=on_loop)
    async with counting:
        stepper = FanoutStepper("numpy", counting, Chunking(rows=8))
        await stepper.advance(soup(32, 64, seed=1), CONWAY, 10, wrap_x=True, wrap_y=True)
    # Bands of 8 rows meet every halo_depth(8, 10) generations, with a job a band each time.
    assert counting.dispatches == [4] * math.ceil(10 / halo_depth(8, 10))
    assert stepper.chunks == 4


@pytest.mark.anyio
async def test_by_default_one_band_per_worker() -> None:
    counting = Counting(workers=4)
    cells = soup(30, 64, seed=2)
    async with counting:
        stepper = FanoutStepper("numpy", counting, Chunking())
        got = await stepper.advance(cells, CONWAY, 3, wrap_x=True, wrap_y=True)
    assert set(counting.dispatches) == {4}  # ceil(30 / 4) = 8 rows: bands of 8, 8, 8 and 6
    assert stepper.chunks == 4
    np.testing.assert_array_equal(got, reference(30, 64, 2, CONWAY, 3, True, True))


@pytest.mark.anyio
async def test_a_single_band_is_the_whole_grid_in_one_dispatch() -> None:
    counting = Counting()
    async with counting:
        stepper = FanoutStepper("numpy", counting, Chunking())
        got = await stepper.advance(soup(30, 64, seed=2), CONWAY, 40, wrap_x=True, wrap_y=True)
    assert counting.dispatches == [1]
    expected = NumpyEngine().advance(soup(30, 64, seed=2), CONWAY, 40, wrap_x=True, wrap_y=True)
    np.testing.assert_array_equal(got, expected)


@pytest.mark.anyio
async def test_the_grids_go_through_shared_memory_and_are_freed() -> None:
    # A strategy that runs its jobs in other processes gets shared-memory grids.
    before = set(os.listdir(SHM)) if SHM.is_dir() else set()
    counting = Counting(workers=3, shared_memory=True)
    cells = soup(30, 70, seed=4)
    for chunking in (Chunking(), Chunking(rows=7)):
        got = await fanned(
            cells, HIGHLIFE, 9, chunking=chunking, wrap_x=True, wrap_y=False, strategy=counting
        )
        np.testing.assert_array_equal(got, reference(30, 70, 4, HIGHLIFE, 9, True, False))
    small = cells[:6, :7]
    by_cell = Chunking(cells=True)
    got = await fanned(
        small,
        CONWAY,
        2,
        chunking=by_cell,
        engine="reference",
        wrap_x=False,
        wrap_y=True,
        strategy=counting,
    )
    expected = ReferenceEngine().advance(small, CONWAY, 2, wrap_x=False, wrap_y=True)
    np.testing.assert_array_equal(got, expected)
    assert counting.dispatches
    if SHM.is_dir():
        assert {name for name in os.listdir(SHM) if name.startswith(block_prefix())} <= before


@pytest.mark.anyio
async def test_the_input_is_left_alone_and_zero_generations_copy_it() -> None:
    cells = soup(10, 10, seed=6)
    before = cells.copy()
    async with Serial() as serial:
        stepper = FanoutStepper("numpy", serial, Chunking(rows=3))
        same = await stepper.advance(cells, CONWAY, 0, wrap_x=True, wrap_y=True)
        await stepper.advance(cells, CONWAY, 4, wrap_x=True, wrap_y=True)
        empty = await stepper.advance(
            np.zeros((0, 5), np.uint8), CONWAY, 4, wrap_x=True, wrap_y=True
        )
    np.testing.assert_array_equal(cells, before)
    np.testing.assert_array_equal(same, before)
    assert same is not cells
    assert empty.shape == (0, 5)


# --- from a worker thread ------------------------------------------------------------------


@pytest.mark.parametrize("rows", [None, 5], ids=["one-band", "bands"])
@pytest.mark.parametrize("shared_memory", [False, True], ids=["local", "shared"])
@pytest.mark.anyio
async def test_advance_blocking_steps_as_advance_does(
    rows: int | None, shared_memory: bool
) -> None:
    cells = soup(23, 70, seed=9)
    counting = Counting(workers=2, shared_memory=shared_memory)
    async with counting:
        stepper = FanoutStepper("numpy", counting, Chunking(rows=rows))
        awaited = await stepper.advance(cells, HIGHLIFE, 9, wrap_x=True, wrap_y=False)
        dispatched = list(counting.dispatches)
        step = functools.partial(
            stepper.advance_blocking, cells, HIGHLIFE, 9, wrap_x=True, wrap_y=False
        )
        made = await anyio.to_thread.run_sync(step)
    np.testing.assert_array_equal(made, awaited)
    assert counting.dispatches == dispatched * 2  # the same meetings, the same jobs


@pytest.mark.anyio
async def test_advance_blocking_needs_a_blocking_map_and_bands() -> None:
    cells = soup(6, 6, seed=10)
    async with Coroutines(workers=2) as coroutines:
        on_loop = FanoutStepper("numpy", coroutines, Chunking())
        step = functools.partial(
            on_loop.advance_blocking, cells, CONWAY, 1, wrap_x=True, wrap_y=True
        )
        with pytest.raises(TypeError, match=r"coroutines strategy .* await advance"):
            await anyio.to_thread.run_sync(step)
    per_cell = FanoutStepper("reference", Serial(), Chunking(cells=True))
    with pytest.raises(TypeError, match="cannot step from a worker thread"):
        per_cell.advance_blocking(cells, CONWAY, 1, wrap_x=True, wrap_y=True)


# --- single cells ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("wrap_x", "wrap_y"), [(True, True), (False, False), (True, False), (False, True)]
)
@pytest.mark.anyio
async def test_cells_equal_the_reference(wrap_x: bool, wrap_y: bool) -> None:
    cells = soup(6, 7, seed=8, density=0.5)
    counting = Counting(workers=3)
    async with counting:
        stepper = FanoutStepper("reference", counting, Chunking(cells=True))
        got = await stepper.advance(cells, HIGHLIFE, 3, wrap_x=wrap_x, wrap_y=wrap_y)
    expected = ReferenceEngine().advance(cells, HIGHLIFE, 3, wrap_x=wrap_x, wrap_y=wrap_y)
    np.testing.assert_array_equal(got, expected)
    assert got.dtype == np.uint8
    assert counting.dispatches == [42, 42, 42]  # one job a cell, one dispatch a generation
    assert stepper.chunks == 42


@pytest.mark.parametrize("engine", ["numpy", "bitpacked"])
@pytest.mark.anyio
async def test_cell_chunks_need_the_reference_engine(engine: str) -> None:
    with pytest.raises(InvalidInput, match=f"needs --engine reference, not {engine!r}"):
        FanoutStepper(engine, Serial(), Chunking(cells=True))


@pytest.mark.anyio
async def test_cell_chunks_are_refused_past_the_limit() -> None:
    side = int(np.sqrt(CELL_CHUNK_LIMIT))
    big = np.zeros((side + 1, side), dtype=np.uint8)
    counting = Counting()
    async with counting:
        stepper = FanoutStepper("reference", counting, Chunking(cells=True))
        with pytest.raises(LimitExceeded, match=r"up to 65536 cells; use --chunk-rows"):
            await stepper.advance(big, CONWAY, 1, wrap_x=True, wrap_y=True)
        # Exactly at the limit is allowed (zero generations: nothing to dispatch).
        await stepper.advance(big[:side], CONWAY, 0, wrap_x=True, wrap_y=True)
    assert counting.dispatches == []


# --- Chunking -------------------------------------------------------------------------------


def test_cells_and_rows_together_are_refused() -> None:
    with pytest.raises(InvalidInput, match="choose --chunk cell or --chunk-rows N, not both"):
        Chunking(cells=True, rows=3)


@pytest.mark.parametrize("rows", [0, -2])
def test_rows_must_be_positive(rows: int) -> None:
    with pytest.raises(InvalidInput, match=f"--chunk-rows {rows}: must be at least 1"):
        Chunking(rows=rows)


@pytest.mark.parametrize(
    ("chunking", "height", "workers", "expected"),
    [
        (Chunking(), 10, 3, [(0, 4), (4, 8), (8, 10)]),
        (Chunking(), 10, 1, [(0, 10)]),
        (Chunking(), 3, 5, [(0, 1), (1, 2), (2, 3)]),
        (Chunking(), 5, 0, [(0, 5)]),
        (Chunking(rows=3), 10, 8, [(0, 3), (3, 6), (6, 9), (9, 10)]),
        (Chunking(rows=20), 10, 8, [(0, 10)]),
    ],
)
def test_bands_cover_the_grid(
    chunking: Chunking, height: int, workers: int, expected: list[tuple[int, int]]
) -> None:
    bands = chunking.bands(height, workers)
    assert bands == [Band(start, stop) for start, stop in expected]
    assert sum(band.rows for band in bands) == height


def test_the_rate_hint_counts_the_workers_for_bands_only() -> None:
    bands = FanoutStepper("numpy", Counting(workers=4), Chunking())
    single = FanoutStepper("numpy", Counting(workers=1), Chunking())
    cells = FanoutStepper("reference", Counting(workers=4), Chunking(cells=True))
    assert bands.rate_hint == 4 * single.rate_hint
    assert cells.rate_hint == FanoutStepper("reference", Counting(), Chunking()).rate_hint
    assert "numpy" in repr(bands)
