"""ExecutorPool: the :class:`WorkerPool` shape over any ``concurrent.futures.Executor``.

For the executors this package does not run itself: a ``ThreadPoolExecutor``, a
``ProcessPoolExecutor``, a distributed engine's. What it cannot do is stop a task that already
runs: an ``Executor`` has no way to. :meth:`ExecutorPool.terminate` cancels what has not started
and wakes a blocked map(); running tasks finish on their own.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import BrokenExecutor, Executor, Future
from queue import SimpleQueue
from typing import Any, final

from adapters._processes.errors import PoolClosed, WorkerCrashed
from adapters._processes.protocol import ClosesOnExit, R, T

__all__ = ["ExecutorPool"]


@final
class ExecutorPool(ClosesOnExit):
    """Runs map() through ``executor.submit``; closes and terminates ``executor`` if ``owned``.

    Not owned (the default), the executor is shared: close() and terminate() stop this pool
    only, and terminate() cancels only its own tasks. Owned, close() is
    ``shutdown(wait=True)`` and terminate() ``shutdown(wait=False, cancel_futures=True)``.
    A broken executor (a ``ProcessPoolExecutor`` whose worker died) raises
    :class:`WorkerCrashed`.
    """

    __slots__ = ("_closed", "_executor", "_lock", "_owned", "_terminated", "_waiting")

    def __init__(self, executor: Executor, *, owned: bool = False) -> None:
        self._executor = executor
        self._owned = owned
        self._closed = False
        self._terminated = False
        self._lock = threading.Lock()
        self._waiting: set[SimpleQueue[Future[Any] | None]] = set()

    def map(self, fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
        """Run ``fn(item)`` for every item; return the results in order.

        The first task to raise cancels the tasks not yet started; those already running
        finish; then its exception is raised as it is (a process executor chains the worker's
        traceback as its ``__cause__``).
        """
        if self._closed:
            raise PoolClosed("the pool is closed")
        futures: list[Future[R]] = []
        try:
            futures.extend(self._submit(fn, item) for item in items)
            self._wait(futures)
        except BaseException:
            for future in futures:
                future.cancel()
            raise
        return [future.result() for future in futures]

    def close(self) -> None:
        """Refuse new work; shut the executor down and wait for it, if owned. Idempotent."""
        self._closed = True
        if self._owned:
            self._executor.shutdown(wait=True)

    def terminate(self) -> None:
        """Refuse new work, cancel what has not started, wake every blocked map(). Idempotent."""
        with self._lock:
            self._closed = self._terminated = True
            for finished in self._waiting:
                finished.put(None)  # wakes that map()
        if self._owned:
            self._executor.shutdown(wait=False, cancel_futures=True)

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<ExecutorPool {type(self._executor).__name__} {state}>"

    def _submit(self, fn: Callable[[T], R], item: T) -> Future[R]:
        try:
            return self._executor.submit(fn, item)
        except BrokenExecutor as exc:
            raise WorkerCrashed(f"the executor is broken: {exc}") from exc
        except RuntimeError as exc:  # "cannot schedule new futures after shutdown"
            raise PoolClosed(f"the executor takes no new work: {exc}") from exc

    def _wait(self, futures: Sequence[Future[R]]) -> None:
        """Wait for every future, then raise the first failure, if any."""
        # Each future reports to this queue once, as it finishes; terminate() adds None.
        finished: SimpleQueue[Future[Any] | None] = SimpleQueue()
        with self._lock:
            if self._terminated:
                raise PoolClosed("the pool was terminated while map() was running")
            self._waiting.add(finished)
        try:
            for future in futures:
                future.add_done_callback(finished.put)
            failure = self._collect(finished, futures)
        finally:
            with self._lock:
                self._waiting.discard(finished)
        if isinstance(failure, BrokenExecutor):
            raise WorkerCrashed(f"a worker of the executor died: {failure}") from failure
        if failure is not None:
            raise failure

    @staticmethod
    def _collect(
        finished: SimpleQueue[Future[Any] | None], futures: Sequence[Future[R]]
    ) -> BaseException | None:
        failure: BaseException | None = None
        for _ in futures:
            future = finished.get()
            if future is None:
                raise PoolClosed("the pool was terminated while map() was running")
            if failure is None and (failure := _failure_of(future)) is not None:
                for other in futures:
                    other.cancel()  # those already running finish, and report as they do
        return failure


def _failure_of(future: Future[Any]) -> BaseException | None:
    if future.cancelled():
        return PoolClosed("a task was cancelled: the executor was shut down")
    return future.exception()
