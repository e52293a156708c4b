"""The ``threadpool`` strategy: the contract every strategy keeps, and what is its own."""

from __future__ import annotations

import threading
import time

import pytest

from adapters.threads import PeakGauge
from service.life.strategies.thread_pool import ThreadPool
from tests.life.strategies._contract import StrategyContract


class TestContract(StrategyContract):
    name = "threadpool"


@pytest.mark.anyio
async def test_pooled_threads_serve_every_dispatch_at_most_workers_at_once() -> None:
    names: set[str] = set()
    gauge = PeakGauge()

    def job(index: int) -> int:
        with gauge:
            names.add(threading.current_thread().name)
            time.sleep(0.002)
        return index

    async with ThreadPool(workers=3) as strategy:
        for _ in range(3):
            assert await strategy.map(job, list(range(30))) == list(range(30))
    assert 1 <= len(names) <= 3
    assert all(name.startswith("life-pool") for name in names)
    assert gauge.peak <= 3
