"""What every fan-out strategy offers, and the small pieces they share."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from contextlib import suppress
from typing import ClassVar, Protocol, Self, TypeVar

from anyio import from_thread

__all__ = [
    "BlockingMap",
    "Strategy",
    "StrategyBase",
    "ThreadPeak",
    "check_cancelled",
    "first_error",
    "run_in_order",
]

T = TypeVar("T")
R = TypeVar("R")


class BlockingMap(Protocol):
    """``Strategy.map`` as a plain call, made from a worker thread (not the event loop)."""

    def __call__(self, fn: Callable[[T], R], jobs: Sequence[T], /) -> list[R]: ...


class Strategy(Protocol):
    """Computes a dispatch (a list of chunk jobs) and owns its workers for the whole run.

    ``map`` returns the results in job order; the first job that fails fails the dispatch with
    its own exception. Leaving the ``async with`` block stops every worker it started.
    """

    @property
    def name(self) -> str: ...

    @property
    def workers(self) -> int: ...

    @property
    def shared_memory(self) -> bool:
        """True when jobs run in other processes, so grids must live in shared memory."""
        ...

    @property
    def peak_threads(self) -> int: ...

    @property
    def threads_started(self) -> int:
        """Threads the strategy created itself during the run."""
        ...

    async def __aenter__(self) -> Strategy: ...

    async def __aexit__(self, *exc_info: object) -> None: ...

    async def map(self, fn: Callable[[T], R], jobs: Sequence[T]) -> list[R]: ...

    def blocking(self) -> BlockingMap | None:
        """``map`` to call from a worker thread, for strategies that wait on one anyway.

        A caller with many dispatches to make runs them all on one worker thread: a meeting of
        the workers is then a hand-off between threads, not two trips through the event loop.
        The call checks for cancellation (``from_thread.check_cancelled``) while it waits.
        None: this strategy's dispatches belong on the event loop (``coroutines``).
        """
        ...


class StrategyBase:
    """What every strategy shares: a worker count, a peak-thread gauge, a no-op lifecycle."""

    shared_memory: ClassVar[bool] = False

    __slots__ = ("_peak", "threads_started", "workers")

    def __init__(self, *, workers: int) -> None:
        self.workers = workers
        self._peak = ThreadPeak()
        # Threads this strategy created itself (anyio's own worker threads are not counted).
        self.threads_started = 0

    def __repr__(self) -> str:
        return f"<{type(self).__name__} workers={self.workers}>"

    @property
    def peak_threads(self) -> int:
        """The most threads this process had alive at any sample during the run."""
        return self._peak.peak

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        return None

    def blocking(self) -> BlockingMap | None:
        return None


class ThreadPeak:
    """The most threads this process had alive at any sample."""

    __slots__ = ("_lock", "peak")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.peak = threading.active_count()

    def __repr__(self) -> str:
        return f"<ThreadPeak {self.peak}>"

    def sample(self) -> None:
        alive = threading.active_count()
        with self._lock:
            self.peak = max(self.peak, alive)


def run_in_order(fn: Callable[[T], R], jobs: Sequence[T], peak: ThreadPeak) -> list[R]:
    """Run jobs one after another on this (worker) thread, stopping early when cancelled."""
    results = []
    peak.sample()
    for job in jobs:
        check_cancelled()
        results.append(fn(job))
    return results


def check_cancelled() -> None:
    """Raise the cancellation of the task that waits for this worker thread, if it was
    cancelled (``from_thread.check_cancelled``). Nothing where no task waits: in a worker
    process (its pool kills it instead) a blocking run goes on to its end."""
    with suppress(RuntimeError):  # anyio's NoEventLoopError: not one of its worker threads
        from_thread.check_cancelled()


def first_error(errors: Sequence[BaseException | None]) -> BaseException | None:
    return next((e for e in errors if e is not None), None)
