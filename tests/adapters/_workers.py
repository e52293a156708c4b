"""Task functions for tests/adapters/test_processes.py: workers import them, so they live here."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

from adapters.processes import (
    ExecutorPool,
    ProcessPool,
    SharedArray,
    SharedSpec,
    attached,
    stop_helpers,
)


@dataclass(frozen=True, slots=True)
class RowTask:
    """Fill row ``row`` of the shared block ``spec`` with ``value``."""

    spec: SharedSpec
    row: int
    value: int


class TwoArgError(Exception):
    """Pickles, but cannot be unpickled: its __init__ does not take its own ``args``."""

    def __init__(self, what: str, why: str) -> None:
        super().__init__(f"{what} failed: {why}")


def square(x: int) -> int:
    # Later items finish sooner, so answers arrive out of order.
    time.sleep(0.002 * (8 - x % 8))
    return x * x


def fail_on_two(x: int) -> int:
    if x == 2:
        raise ValueError(f"bad item {x}")
    time.sleep(0.05)
    return x


def raise_two_arg(_: int) -> int:
    raise TwoArgError("step", "no reason")


def exit_with(code: int) -> None:
    os._exit(code)


def kill_self(_: int) -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def ignore_sigterm(_: int) -> int:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    return os.getpid()


def sleep_for(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def fill_row(task: RowTask) -> int:
    attached(task.spec)[task.row, :] = task.value
    return os.getpid()


def borrow_and_write(spec_json: str) -> None:
    """In a process multiprocessing did not start (a tracker of its own): attach, write, exit."""
    fields = json.loads(spec_json)
    spec = SharedSpec(fields["name"], tuple(fields["shape"]), fields["dtype"])
    with SharedArray.attach(spec) as block:
        block.array[:] = 7


def pool_round_trip_main() -> None:
    """A whole run in a fresh interpreter, whose stderr also gets the resource tracker's."""
    with SharedArray.create((4, 16), "uint64") as block:
        tasks = [RowTask(block.spec, row, row + 1) for row in range(4)]
        with ProcessPool(2, preload=("numpy",)) as pool:
            pool.map(fill_row, tasks)
            pool.map(fill_row, tasks)  # attached from the cache the second time
        executor = ProcessPoolExecutor(2, mp_context=get_context("forkserver"))
        with ExecutorPool(executor, owned=True) as foreign:
            foreign.map(fill_row, tasks)
        sums = block.array.sum(axis=1).tolist()
    sys.stdout.write(json.dumps({"sums": sums, "name": block.spec.name}))


def stop_helpers_main() -> None:
    """Start the forkserver and the resource tracker, stop them, then use a pool again; prints
    the helpers' pids and which of them were still there (zombies too) after the stop."""
    with SharedArray.create((1, 8), "uint64") as block, ProcessPool(1) as pool:
        pool.map(fill_row, [RowTask(block.spec, 0, 5)])
        helpers = [child for child in _children(os.getpid()) if child not in pool.pids]
    stop_helpers()
    left = [pid for pid in helpers if pid in _children(os.getpid())]
    with ProcessPool(1) as pool:  # the forkserver starts again when needed
        again = pool.map(square, [3])
    sys.stdout.write(json.dumps({"helpers": helpers, "left": left, "again": again}))


def _children(parent: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        if int(fields[1]) == parent:
            found.append(int(stat.parent.name))
    return found


def pid_and(value: object) -> tuple[int, object]:
    """This worker's process id, and ``value`` back as it came."""
    return os.getpid(), value


def niceness(_: object) -> int:
    return os.getpriority(os.PRIO_PROCESS, 0)
