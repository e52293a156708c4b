"""The ``processes`` strategy: the contract every strategy keeps, and what is its own."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterator
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor

import anyio
import numpy as np
import pytest

from service.errors import WorkerError
from service.life.fanout import Chunking
from service.life.pattern import Pattern
from service.life.run import run_life
from service.life.strategies import make_strategy
from service.life.topology import Topology
from tests.life.strategies import _jobs
from tests.life.strategies._contract import (
    LIMITS,
    WORKERS,
    StrategyContract,
    assert_nothing_left,
    soup,
)


class TestContract(StrategyContract):
    name = "processes"


@pytest.fixture(params=["processes", "threads"])
def executor(request: pytest.FixtureRequest) -> Iterator[Executor]:
    """Someone else's executor, of processes or threads: the strategy uses it, leaves it running."""
    pool: Executor
    if request.param == "processes":
        # forkserver, like our own pool: a forked copy of a process with threads can deadlock.
        pool = ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("forkserver"))
    else:
        pool = ThreadPoolExecutor(2, thread_name_prefix="life-test-executor")
    try:
        yield pool
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    assert_nothing_left()


@pytest.mark.anyio
async def test_chunks_run_in_the_worker_processes() -> None:
    async with make_strategy("processes", workers=WORKERS, limits=LIMITS) as strategy:
        children = {child.pid for child in multiprocessing.active_children()}
        answers = await strategy.map(_jobs.pid_and_thread, list(range(12)))
    pids = {pid for pid, _ in answers}
    assert len(children) == WORKERS
    assert pids <= children
    assert os.getpid() not in pids
    assert_nothing_left(sorted(pid for pid in children if pid is not None))


@pytest.mark.anyio
async def test_a_worker_that_dies_fails_the_run_with_a_worker_error() -> None:
    with pytest.raises(WorkerError, match="a Life worker process died"):
        async with make_strategy("processes", workers=WORKERS, limits=LIMITS) as strategy:
            await strategy.map(_jobs.die_on, [(index, 4) for index in range(8)])


@pytest.mark.anyio
async def test_cancelled_before_it_starts_no_child_is_left(anyio_backend: str) -> None:
    with anyio.CancelScope() as scope:
        scope.cancel()
        async with make_strategy("processes", workers=WORKERS, limits=LIMITS) as strategy:
            await strategy.map(_jobs.square, [1, 2, 3])
    assert scope.cancelled_caught
    assert_nothing_left()


def test_an_injected_executor_gives_the_same_result(executor: Executor) -> None:
    torus = Topology("torus", 24, 20)
    pattern = Pattern(soup(20, 24, seed=9))
    expected = run_life(pattern, 8, limits=LIMITS, topology=torus, engine="reference")
    for chunking in (Chunking(rows=5), Chunking()):
        result = run_life(
            pattern,
            8,
            limits=LIMITS,
            topology=torus,
            engine="numpy",
            strategy="processes",
            workers=2,
            chunking=chunking,
            executor=executor,
        )
        np.testing.assert_array_equal(result.pattern.cells, expected.pattern.cells)
        assert result.summary()["strategy"] == "processes"
    # The run did not own the executor: it takes work still.
    assert executor.submit(_jobs.square, 7).result(timeout=30) == 49


def test_an_injected_executor_steps_cells_and_a_growing_universe(
    executor: Executor,
) -> None:
    r_pentomino = Pattern(np.array([[0, 1, 1], [1, 1, 0], [0, 1, 0]], dtype=np.uint8))
    expected = run_life(r_pentomino, 6, limits=LIMITS, engine="reference")
    result = run_life(
        r_pentomino,
        6,
        limits=LIMITS,
        engine="reference",
        strategy="processes",
        workers=2,
        chunking=Chunking(cells=True),
        executor=executor,
        every=2,
        snapshot=lambda generation, pattern: None,
    )
    assert result.bbox == expected.bbox
    np.testing.assert_array_equal(result.pattern.cells, expected.pattern.cells)
    assert result.summary()["chunks"] > 9  # a job a cell of a grid that grew
