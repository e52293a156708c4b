"""The ``threads`` strategy: the contract every strategy keeps, and what is its own."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from service.config import LifeSettings
from service.errors import LimitExceeded
from service.life.fanout import Chunking
from service.life.pattern import Pattern
from service.life.run import run_life
from service.life.soup import Soup
from service.life.strategies import make_strategy
from service.life.strategies.per_chunk import ThreadPerChunk
from service.life.topology import Topology
from tests.life.strategies import _jobs
from tests.life.strategies._contract import StrategyContract


class TestContract(StrategyContract):
    name = "threads"
    skips_chunks_not_started = False  # it starts a thread for every chunk at once


@pytest.mark.anyio
async def test_more_chunks_than_max_threads_at_once_are_refused() -> None:
    strategy = make_strategy("threads", workers=2, limits=LifeSettings(max_threads=4))
    assert isinstance(strategy, ThreadPerChunk)
    assert strategy.max_threads == 4
    async with strategy:
        assert await strategy.map(_jobs.square, [1, 2, 3, 4]) == [1, 4, 9, 16]
        with pytest.raises(LimitExceeded, match=r"5 threads at once, past life\.max_threads = 4"):
            await strategy.map(_jobs.square, [1, 2, 3, 4, 5])


def test_a_run_with_a_thread_per_cell_past_max_threads_is_refused() -> None:
    cells = np.ones((10, 10), dtype=np.uint8)
    with pytest.raises(LimitExceeded, match=r"life\.max_threads = 50: use bigger chunks"):
        run_life(
            Pattern(cells),
            1,
            limits=LifeSettings(max_threads=50),
            topology=Topology("torus", 10, 10),
            engine="reference",
            strategy="threads",
            chunking=Chunking(cells=True),
        )


@pytest.mark.anyio
async def test_every_chunk_gets_a_thread_of_its_own() -> None:
    names: list[str] = []
    ready = threading.Barrier(6, timeout=10)

    def job(index: int) -> int:
        names.append(threading.current_thread().name)
        ready.wait()  # all six at once, or this times out
        return index

    async with ThreadPerChunk(workers=2, max_threads=10) as strategy:
        assert await strategy.map(job, list(range(6))) == list(range(6))
        assert strategy.peak_threads >= 7  # six chunks, and the thread that waits for them
    assert sorted(names) == [f"life-chunk-{index}" for index in range(6)]


def test_a_thread_is_started_for_every_cell_of_every_generation() -> None:
    result = run_life(
        Soup(4, 4, 0.5, seed=1).pattern(max_cells=16),
        3,
        limits=LifeSettings(),
        engine="reference",
        strategy="threads",
        chunking=Chunking(cells=True),
        topology=Topology("torus", 4, 4),
    )
    assert result.threads_started == 4 * 4 * 3
