"""Jobs for the strategy tests: module-level functions, so that worker processes import them."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

__all__ = ["die_on", "fail_on", "mark_slowly", "pid_and_thread", "square"]


def square(x: int) -> int:
    return x * x


def fail_on(job: tuple[int, int]) -> int:
    """Job ``(index, bad)`` raises ValueError when ``index == bad``; the others take a moment."""
    index, bad = job
    if index == bad:
        raise ValueError(f"chunk {index} failed")
    time.sleep(0.005)
    return index


def mark_slowly(job: tuple[str, int]) -> int:
    """Leave a file named ``index`` in ``directory`` as the job starts, then take a while.

    The files count the jobs that started, in this process or another.
    """
    directory, index = job
    Path(directory, str(index)).touch()
    time.sleep(0.02)
    return index


def pid_and_thread(_: int) -> tuple[int, str]:
    time.sleep(0.01)  # long enough for every worker to get a job
    return os.getpid(), threading.current_thread().name


def die_on(job: tuple[int, int]) -> int:
    """Job ``(index, bad)`` ends its whole process, without a word, when ``index == bad``."""
    index, bad = job
    if index == bad:
        os._exit(3)
    return index
