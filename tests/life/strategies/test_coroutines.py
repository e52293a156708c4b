"""The ``coroutines`` strategy: the contract every strategy keeps, and what is its own."""

from __future__ import annotations

import threading
import time

import pytest

from adapters.threads import PeakGauge
from service.life.strategies.coroutines import Coroutines
from tests.life.strategies._contract import StrategyContract


class TestContract(StrategyContract):
    name = "coroutines"


@pytest.mark.anyio
async def test_a_task_per_chunk_and_at_most_workers_computing_at_once() -> None:
    loop_thread = threading.get_ident()
    threads: set[int] = set()
    gauge = PeakGauge()

    def job(index: int) -> int:
        with gauge:
            threads.add(threading.get_ident())
            time.sleep(0.002)
        return index

    async with Coroutines(workers=2) as strategy:
        assert await strategy.map(job, list(range(40))) == list(range(40))
    assert gauge.peak <= 2
    assert loop_thread not in threads
