"""The ``serial`` strategy: the contract every strategy keeps, and what is its own."""

from __future__ import annotations

import threading

import pytest

from service.life.strategies import choose_strategy, make_strategy
from service.life.strategies.serial import Serial
from tests.life.strategies._contract import LIMITS, StrategyContract


class TestContract(StrategyContract):
    name = "serial"
    workers = 1


def test_serial_has_one_worker_whatever_is_asked() -> None:
    assert choose_strategy(
        "serial", workers=8, cells=10**9, generations=10, per_cell=False, max_workers=64
    ) == (
        "serial",
        1,
    )
    assert make_strategy("serial", workers=8, limits=LIMITS).workers == 1
    assert repr(Serial()) == "<Serial workers=1>"


@pytest.mark.anyio
async def test_one_worker_thread_computes_every_chunk_in_turn() -> None:
    loop_thread = threading.get_ident()
    seen: list[int] = []
    running = 0

    def job(index: int) -> int:
        nonlocal running
        running += 1
        seen.append(threading.get_ident())
        assert running == 1, "chunks overlapped"
        running -= 1
        return index

    async with Serial() as serial:
        assert await serial.map(job, list(range(20))) == list(range(20))
    assert len(set(seen)) == 1
    assert loop_thread not in seen
