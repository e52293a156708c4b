"""adapters.processes: shared arrays between processes, ProcessPool and ExecutorPool."""

from __future__ import annotations

import json
import logging
import os
import pickle
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from multiprocessing import active_children, get_context
from pathlib import Path

import anyio
import numpy as np
import pytest

from adapters.processes import (
    NAME_PREFIX,
    ExecutorPool,
    PoolClosed,
    ProcessPool,
    SharedArray,
    SharedArrayInUse,
    SharedSpec,
    TaskFailed,
    WorkerCrashed,
    attached,
    block_prefix,
    detach_all,
)
from tests.adapters import _workers
from tests.adapters._workers import RowTask

SHM = Path("/dev/shm")
ROOT = Path(__file__).resolve().parents[2]
PRELOAD = ("numpy", "tests.adapters._workers")

pytestmark = pytest.mark.skipif(not SHM.is_dir(), reason="needs POSIX shared memory in /dev/shm")


def _blocks() -> set[str]:
    """This process's blocks: other test runs on the machine may create their own meanwhile."""
    return {path.name for path in SHM.glob(f"{block_prefix()}*")}


def _assert_reaped(pids: Sequence[int]) -> None:
    assert not {child.pid for child in active_children()} & set(pids)
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def _python(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-c", code, *args]
    return subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )


def _in_thread(call: Callable[[], object]) -> tuple[threading.Thread, list[BaseException]]:
    errors: list[BaseException] = []

    def run() -> None:
        try:
            call()
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, errors


@pytest.fixture(autouse=True)
def no_leftover_blocks() -> Iterator[None]:
    before = _blocks()
    yield
    assert _blocks() - before == set()


@pytest.fixture(scope="module")
def pool() -> Iterator[ProcessPool]:
    with ProcessPool(2, preload=PRELOAD) as shared_pool:
        yield shared_pool
    _assert_reaped(shared_pool.pids)


# Shared arrays


def test_a_worker_writes_into_the_parents_block(pool: ProcessPool) -> None:
    with SharedArray.create((4, 65536), "uint64") as block:  # 2 MiB
        tasks = [RowTask(block.spec, row, row + 1) for row in range(4)]
        assert all(len(pickle.dumps(task)) < 300 for task in tasks)  # the spec, not the array
        pids = pool.map(_workers.fill_row, tasks)
        assert set(pids) <= set(pool.pids)
        assert block.array.sum(axis=1).tolist() == [65536 * (row + 1) for row in range(4)]


def test_the_owner_unlinks_and_a_borrower_only_closes() -> None:
    with SharedArray.create((2, 3), np.uint8) as owner:
        path = SHM / owner.spec.name
        assert owner.spec == SharedSpec(owner.spec.name, (2, 3), "|u1")
        with SharedArray.attach(owner.spec) as borrower:
            borrower.array[1, 2] = 9
        assert borrower.closed
        assert path.exists()
        assert owner.array[1, 2] == 9
    assert not path.exists()
    owner.close()  # idempotent
    with pytest.raises(ValueError, match="closed"):
        _ = owner.array


def test_close_with_a_live_view_unlinks_and_unmaps_later() -> None:
    block = SharedArray.create(8, "int32")
    view = block.array[2:]
    with pytest.raises(SharedArrayInUse, match="numpy views"):
        block.close()
    assert block.closed
    assert not (SHM / block.spec.name).exists()  # unlinked already; the pages stay mapped
    view[0] = 5
    assert view[0] == 5
    del view
    block.close()  # idempotent
    with SharedArray.create(1, "uint8"):  # unmaps the parked block on the way
        pass


def test_attach_refuses_a_missing_block_or_a_spec_too_large() -> None:
    with pytest.raises(FileNotFoundError):
        SharedArray.attach(SharedSpec(f"{NAME_PREFIX}missing", (1,), "<u8"))
    with SharedArray.create(4, "uint8") as block:
        bigger = SharedSpec(block.spec.name, (1 << 20,), "<u8")
        with pytest.raises(ValueError, match="needs more"):
            SharedArray.attach(bigger)


def test_create_refuses_object_arrays_and_negative_shapes() -> None:
    with pytest.raises(ValueError, match="numeric dtype"):
        SharedArray.create(3, object)
    with pytest.raises(ValueError, match="negative"):
        SharedArray.create((2, -1), "uint8")


def test_attached_opens_a_block_once_per_process() -> None:
    with SharedArray.create((2, 2), "uint64") as block:
        first = attached(block.spec)
        assert attached(block.spec) is first
        first[0, 0] = 3
        assert block.array[0, 0] == 3
        del first
        detach_all()


def test_a_borrower_with_its_own_tracker_leaves_the_block_alone() -> None:
    # Before the fix, the borrower's own resource tracker unlinked the block at its exit and
    # warned of "leaked shared_memory objects".
    with SharedArray.create((2, 8), "uint64") as block:
        spec = json.dumps({"name": block.spec.name, "shape": [2, 8], "dtype": block.spec.dtype})
        code = "import sys; from tests.adapters._workers import borrow_and_write; "
        done = _python(code + "borrow_and_write(sys.argv[1])", spec)
        assert (done.returncode, done.stderr) == (0, "")
        assert (SHM / block.spec.name).exists()
        assert block.array.tolist() == [[7] * 8] * 2


def test_a_whole_run_leaves_no_block_and_no_tracker_complaint() -> None:
    # A fresh interpreter, so that the resource tracker writes to a stderr we can read: a
    # borrower that unregistered would make it print a KeyError when the owner unlinks.
    code = "from tests.adapters._workers import pool_round_trip_main as m; m()"
    done = _python(code)
    assert (done.returncode, done.stderr) == (0, "")
    result = json.loads(done.stdout)
    assert result["sums"] == [16 * (row + 1) for row in range(4)]
    assert not (SHM / result["name"]).exists()


def test_stop_helpers_stops_and_reaps_the_forkserver_and_the_tracker() -> None:
    # A fresh interpreter: stopping this one's forkserver would slow the tests after it. Left
    # alone, both helpers outlive their parent by a moment (a daemon's stop left them behind).
    done = _python("from tests.adapters._workers import stop_helpers_main as m; m()")
    assert (done.returncode, done.stderr) == (0, "")
    result = json.loads(done.stdout)
    assert len(result["helpers"]) == 2  # the forkserver and the resource tracker
    assert result["left"] == []  # gone and reaped: not even zombies
    assert result["again"] == [9]


# ProcessPool


def test_results_come_back_in_order(pool: ProcessPool) -> None:
    assert pool.map(_workers.square, list(range(16))) == [x * x for x in range(16)]
    assert pool.map(_workers.square, []) == []


def test_a_worker_exception_is_raised_with_its_type_and_traceback(pool: ProcessPool) -> None:
    with pytest.raises(ValueError, match="bad item 2") as info:
        pool.map(_workers.fail_on_two, [1, 2, 3, 4])
    note = "\n".join(info.value.__notes__)
    assert "fanout-worker-" in note
    assert "Traceback" in note
    assert "fail_on_two" in note
    assert pool.map(_workers.square, [3]) == [9]  # the pool carries on


def test_an_exception_that_does_not_unpickle_arrives_as_task_failed(pool: ProcessPool) -> None:
    with pytest.raises(TaskFailed, match=r"TwoArgError: step failed: no reason") as info:
        pool.map(_workers.raise_two_arg, [0])
    assert "raise_two_arg" in "\n".join(info.value.__notes__)


def test_a_task_that_does_not_pickle_fails_before_anything_runs(pool: ProcessPool) -> None:
    with pytest.raises((pickle.PicklingError, AttributeError)):
        pool.map(lambda x: x, [1])
    assert pool.map(_workers.square, [2]) == [4]


def test_concurrent_maps_take_turns(pool: ProcessPool) -> None:
    with ThreadPoolExecutor(3) as callers:
        runs = [callers.submit(pool.map, _workers.square, list(range(n))) for n in (4, 8, 12)]
        assert [run.result(timeout=30) for run in runs] == [
            [x * x for x in range(n)] for n in (4, 8, 12)
        ]


def _squares(pool: ProcessPool) -> list[int]:
    return pool.map(_workers.square, list(range(8)))


@pytest.mark.anyio
async def test_map_runs_from_an_anyio_worker_thread(pool: ProcessPool) -> None:
    assert await anyio.to_thread.run_sync(_squares, pool) == [x * x for x in range(8)]


@pytest.mark.parametrize(
    ("task", "item", "exitcode", "described"),
    [
        (_workers.exit_with, 3, 3, "exit code 3"),
        (_workers.kill_self, 0, -signal.SIGKILL, r"signal SIGKILL \(9\)"),
    ],
)
def test_a_dying_worker_raises_worker_crashed(
    task: Callable[[int], None], item: int, exitcode: int, described: str
) -> None:
    pool = ProcessPool(2, preload=PRELOAD)
    with pytest.raises(WorkerCrashed, match=f"died with {described} while running task 0") as info:
        pool.map(task, [item])
    assert info.value.exitcode == exitcode
    assert info.value.pid in pool.pids
    with pytest.raises(PoolClosed, match="broken"):
        pool.map(_workers.square, [1])
    pool.close()
    _assert_reaped(pool.pids)


def test_a_worker_killed_while_idle_breaks_the_next_map() -> None:
    pool = ProcessPool(2, preload=PRELOAD)
    os.kill(pool.pids[1], signal.SIGKILL)
    with pytest.raises(WorkerCrashed, match="SIGKILL"):
        pool.map(_workers.sleep_for, [0.2, 0.2])
    pool.terminate()
    _assert_reaped(pool.pids)


def test_terminate_kills_a_worker_that_ignores_sigterm(caplog: pytest.LogCaptureFixture) -> None:
    pool = ProcessPool(1, grace_s=0.3, preload=PRELOAD)
    assert pool.map(_workers.ignore_sigterm, [0]) == list(pool.pids)
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="adapters._processes.process_pool"):
        pool.terminate()
    assert 0.3 <= time.monotonic() - started < 10
    assert "ignored SIGTERM" in caplog.text
    _assert_reaped(pool.pids)
    pool.terminate()  # idempotent


def test_terminate_interrupts_a_running_map() -> None:
    pool = ProcessPool(2, grace_s=5.0, preload=PRELOAD)
    thread, errors = _in_thread(lambda: pool.map(_workers.sleep_for, [30.0, 30.0, 30.0]))
    time.sleep(0.2)
    started = time.monotonic()
    pool.terminate()
    assert time.monotonic() - started < 2.5  # SIGTERM sufficed: no grace period spent
    thread.join(timeout=10)
    assert not thread.is_alive()
    assert len(errors) == 1
    assert isinstance(errors[0], PoolClosed)
    _assert_reaped(pool.pids)


def test_close_joins_every_worker() -> None:
    pool = ProcessPool(2, preload=PRELOAD)
    assert repr(pool) == "<ProcessPool 2 workers open>"
    assert pool.map(_workers.square, [1, 2]) == [1, 4]
    pool.close()
    pool.close()
    _assert_reaped(pool.pids)
    with pytest.raises(PoolClosed, match="closed"):
        pool.map(_workers.square, [1])
    pool.terminate()  # a no-op once closed
    assert repr(pool) == "<ProcessPool 2 workers closed>"


def test_leaving_with_an_exception_terminates() -> None:
    pool = ProcessPool(1, preload=PRELOAD)

    def cancelled() -> None:
        with pool:
            raise KeyError("cancelled")

    with pytest.raises(KeyError):
        cancelled()
    _assert_reaped(pool.pids)
    with pytest.raises(PoolClosed, match="terminated"):
        pool.map(_workers.square, [1])


def test_the_constructor_checks_its_arguments() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        ProcessPool(0)
    with pytest.raises(ValueError, match="unknown start method 'nope'"):
        ProcessPool(1, context="nope")
    with pytest.raises(ValueError, match="no_such_module_xyz"):
        ProcessPool(1, preload=("no_such_module_xyz",))


# ExecutorPool


def test_executor_pool_over_threads() -> None:
    with ThreadPoolExecutor(4) as executor:
        pool = ExecutorPool(executor)
        assert pool.map(_workers.square, list(range(16))) == [x * x for x in range(16)]
        with pytest.raises(ValueError, match="bad item 2"):
            pool.map(_workers.fail_on_two, [1, 2, 3])
        pool.close()
        with pytest.raises(PoolClosed):
            pool.map(_workers.square, [1])
        assert executor.submit(abs, -1).result() == 1  # not owned: the executor carries on


def test_executor_pool_terminate_cancels_what_has_not_started() -> None:
    started, release = threading.Event(), threading.Event()
    ran: list[int] = []

    def task(x: int) -> int:
        ran.append(x)
        started.set()
        release.wait(10)
        return x

    with ThreadPoolExecutor(1) as executor:
        pool = ExecutorPool(executor)
        thread, errors = _in_thread(lambda: pool.map(task, [1, 2, 3]))
        assert started.wait(10)
        pool.terminate()
        thread.join(timeout=10)
        assert not thread.is_alive()
        assert len(errors) == 1
        assert isinstance(errors[0], PoolClosed)
        release.set()
    assert ran == [1]


def test_executor_pool_owned_shuts_its_executor_down() -> None:
    executor = ThreadPoolExecutor(1)
    ExecutorPool(executor, owned=True).terminate()
    with pytest.raises(RuntimeError, match="shutdown"):
        executor.submit(abs, -1)


def test_executor_pool_over_processes() -> None:
    executor = ProcessPoolExecutor(2, mp_context=get_context("forkserver"))
    with ExecutorPool(executor, owned=True) as pool:
        assert pool.map(_workers.square, list(range(8))) == [x * x for x in range(8)]
        with pytest.raises(ValueError, match="bad item 2"):
            pool.map(_workers.fail_on_two, [1, 2, 3])
        with SharedArray.create((2, 4), "uint64") as block:
            pool.map(_workers.fill_row, [RowTask(block.spec, row, 5) for row in range(2)])
            assert block.array.sum() == 40
        with pytest.raises(WorkerCrashed, match="died"):
            pool.map(_workers.exit_with, [3])
