"""The ``queue`` strategy: the contract every strategy keeps, and what is its own."""

from __future__ import annotations

import threading
import time

import pytest

from adapters.threads import PeakGauge
from service.life.strategies.queue_workers import QueueWorkers
from tests.life.strategies._contract import StrategyContract


class TestContract(StrategyContract):
    name = "queue"


@pytest.mark.anyio
async def test_the_same_workers_serve_every_dispatch_one_chunk_each_at_a_time() -> None:
    names: set[str] = set()
    gauge = PeakGauge()

    def job(index: int) -> int:
        with gauge:
            names.add(threading.current_thread().name)
            time.sleep(0.002)
        return index

    async with QueueWorkers(workers=3) as strategy:
        alive = sorted(t.name for t in threading.enumerate() if t.name.startswith("life-queue"))
        assert alive == ["life-queue-0", "life-queue-1", "life-queue-2"]
        for _ in range(3):
            assert await strategy.map(job, list(range(30))) == list(range(30))
        assert strategy.peak_threads >= 4
    assert names <= set(alive)
    assert gauge.peak <= 3
