"""Ways to fan a Life step out: every lesson of the book's chapter as a selectable strategy.

=============  ==========================================================  ==========
name           what computes the chunks                                    book item
=============  ==========================================================  ==========
serial         one after another                                           56
threads        a new thread per chunk per dispatch                         57
queue          fixed worker threads fed through closable queues            58 (55)
threadpool     ``concurrent.futures.ThreadPoolExecutor``                   59
coroutines     an anyio task per chunk, CPU work on limited threads        60
processes      worker processes sharing the grid through shared memory     (52)
auto           the fastest for the request: serial for small work, else    --
               a thread pool over bands (the kernels release the GIL)
=============  ==========================================================  ==========
"""

from __future__ import annotations

import os
from concurrent.futures import Executor
from typing import Final, Literal, TypeAlias

from service.config import LifeSettings
from service.errors import InvalidInput, LimitExceeded
from service.life.strategies._base import BlockingMap, Strategy, check_cancelled
from service.life.strategies.coroutines import Coroutines
from service.life.strategies.per_chunk import ThreadPerChunk
from service.life.strategies.processes import Processes
from service.life.strategies.queue_workers import QueueWorkers
from service.life.strategies.serial import Serial
from service.life.strategies.thread_pool import ThreadPool

__all__ = [
    "SERIAL_WORK",
    "STRATEGY_NAMES",
    "BlockingMap",
    "Strategy",
    "StrategyName",
    "check_cancelled",
    "choose_strategy",
    "make_strategy",
]

StrategyName: TypeAlias = Literal[
    "auto", "serial", "threads", "queue", "threadpool", "coroutines", "processes"
]
STRATEGY_NAMES: Final[tuple[StrategyName, ...]] = (
    "auto",
    "serial",
    "threads",
    "queue",
    "threadpool",
    "coroutines",
    "processes",
)

SERIAL_WORK: Final = 20_000_000
"""Below this many cell-updates a run (cells x generations), ``auto`` runs it serially: handing
chunks to other threads costs more than it saves."""


def choose_strategy(
    name: str,
    *,
    workers: int | None,
    cells: int,
    generations: int,
    per_cell: bool,
    max_workers: int,
) -> tuple[str, int]:
    """Resolve ``auto`` and the default worker count: (strategy name, workers).

    An explicit worker count past ``max_workers`` is refused whatever the strategy, so a
    request that ``auto`` happens to run serially is not accepted today and refused tomorrow.
    """
    if name not in STRATEGY_NAMES:
        raise InvalidInput(f"unknown strategy {name!r}: choose one of {', '.join(STRATEGY_NAMES)}")
    if workers is not None and not 1 <= workers <= max_workers:
        raise LimitExceeded(f"--workers {workers}: must be 1 to {max_workers} (life.max_workers)")
    if name == "auto":
        small = per_cell or cells * generations < SERIAL_WORK
        name = "serial" if small else "threadpool"
    if name == "serial":
        return name, 1
    return name, workers or min(os.cpu_count() or 1, max_workers)


def make_strategy(
    name: str, *, workers: int, limits: LifeSettings, executor: Executor | None = None
) -> Strategy:
    """A strategy, not yet entered; ``executor`` replaces the process pool (any Executor)."""
    if workers > limits.max_workers:
        raise LimitExceeded(f"--workers {workers}: past life.max_workers = {limits.max_workers}")
    if name == "serial":
        return Serial()
    if name == "threads":
        return ThreadPerChunk(workers=workers, max_threads=limits.max_threads)
    if name == "queue":
        return QueueWorkers(workers=workers)
    if name == "threadpool":
        return ThreadPool(workers=workers)
    if name == "coroutines":
        return Coroutines(workers=workers)
    if name == "processes":
        return Processes(workers=workers, executor=executor)
    raise InvalidInput(f"unknown strategy {name!r}: choose one of {', '.join(STRATEGY_NAMES[1:])}")
