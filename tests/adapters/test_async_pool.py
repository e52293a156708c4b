"""adapters.processes.AsyncProcessPool: forkserver workers for async callers, on both backends."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Sequence

import anyio
import pytest

from adapters.processes import AsyncProcessPool, PoolClosed, TaskFailed, WorkerCrashed
from tests.adapters import _workers
from tests.adapters._workers import TwoArgError

PRELOAD = ("tests.adapters._workers",)

pytestmark = pytest.mark.anyio


@pytest.fixture
async def pool() -> AsyncIterator[AsyncProcessPool]:
    pool = AsyncProcessPool(2, preload=PRELOAD)
    try:
        yield pool
    finally:
        await pool.aclose()


def _gone(pids: Sequence[int]) -> bool:
    for pid in pids:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            continue
        return False
    return True


async def test_a_call_runs_in_a_worker_that_stays_for_the_next(pool: AsyncProcessPool) -> None:
    first, value = await pool.run(_workers.pid_and, {"a": [1, 2]})
    second, _ = await pool.run(_workers.pid_and, None)
    assert value == {"a": [1, 2]}
    assert first == second != os.getpid()
    assert pool.pids == (first,)


async def test_calls_at_once_use_as_many_workers_as_allowed(pool: AsyncProcessPool) -> None:
    async with anyio.create_task_group() as group:
        for _ in range(4):
            group.start_soon(pool.run, _workers.sleep_for, 0.2)
    assert len(pool.pids) == 2


async def test_a_big_task_travels_whole(pool: AsyncProcessPool) -> None:
    blob = bytes(range(256)) * 4096  # 1 MiB: past a pipe's buffer
    _, back = await pool.run(_workers.pid_and, blob)
    assert back == blob


async def test_a_task_error_comes_back_with_its_own_type(pool: AsyncProcessPool) -> None:
    with pytest.raises(ValueError, match="bad item 2") as caught:
        await pool.run(_workers.fail_on_two, 2)
    assert any("raised in fanout-worker" in note for note in caught.value.__notes__)
    assert await pool.run(_workers.fail_on_two, 1) == 1  # the worker is still good


async def test_an_error_that_cannot_unpickle_comes_back_as_task_failed(
    pool: AsyncProcessPool,
) -> None:
    with pytest.raises(TaskFailed, match=TwoArgError.__name__):
        await pool.run(_workers.raise_two_arg, 0)


async def test_a_worker_that_dies_raises_worker_crashed_and_is_replaced(
    pool: AsyncProcessPool,
) -> None:
    with pytest.raises(WorkerCrashed, match="SIGKILL") as caught:
        await pool.run(_workers.kill_self, 0)
    assert caught.value.pid is not None
    assert _gone([caught.value.pid])
    assert pool.pids == ()
    pid, _ = await pool.run(_workers.pid_and, None)
    assert pid != caught.value.pid


async def test_a_cancelled_call_kills_its_worker(pool: AsyncProcessPool) -> None:
    pid, _ = await pool.run(_workers.pid_and, None)
    with anyio.move_on_after(0.2) as scope:
        await pool.run(_workers.sleep_for, 30.0)
    assert scope.cancelled_caught
    assert pool.pids == ()
    assert _gone([pid])
    assert await pool.run(_workers.sleep_for, 0.0) == 0.0


async def test_aclose_stops_idle_workers_and_refuses_new_calls() -> None:
    pool = AsyncProcessPool(2, preload=PRELOAD)
    async with anyio.create_task_group() as group:
        for _ in range(2):
            group.start_soon(pool.run, _workers.sleep_for, 0.1)
    pids = pool.pids
    await pool.aclose()
    assert len(pids) == 2
    assert _gone(pids)
    with pytest.raises(PoolClosed):
        await pool.run(_workers.sleep_for, 0.0)


async def test_aclose_kills_a_running_call_which_raises_pool_closed() -> None:
    pool = AsyncProcessPool(1, preload=PRELOAD)
    pid, _ = await pool.run(_workers.pid_and, None)
    async with anyio.create_task_group() as group:

        async def long_call() -> None:
            with pytest.raises(PoolClosed):
                await pool.run(_workers.sleep_for, 30.0)

        group.start_soon(long_call)
        await anyio.sleep(0.2)
        await pool.aclose()
    assert _gone([pid])


async def test_nice_lowers_the_workers_priority() -> None:
    mine = os.getpriority(os.PRIO_PROCESS, 0)
    pool = AsyncProcessPool(1, preload=PRELOAD, nice=5)
    try:
        assert await pool.run(_workers.niceness, None) == min(19, mine + 5)
    finally:
        await pool.aclose()


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="workers must be at least 1"):
        AsyncProcessPool(0)
    with pytest.raises(ValueError, match="nice must be 0 to 19"):
        AsyncProcessPool(1, nice=20)
    with pytest.raises(ValueError, match="cannot be imported"):
        AsyncProcessPool(1, preload=("no.such.module",))
