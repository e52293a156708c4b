"""``threadpool``: a ``concurrent.futures.ThreadPoolExecutor`` for the whole run (item 59).

Threads are started once and reused; ``Future.result()`` carries a chunk's exception back to
the caller, which the hand-made queue version has to arrange itself.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Final, TypeVar, final

from anyio import CancelScope, from_thread, to_thread

from service.life.strategies._base import BlockingMap, StrategyBase

__all__ = ["ThreadPool"]

T = TypeVar("T")
R = TypeVar("R")

_POLL_S: Final = 0.05


@final
class ThreadPool(StrategyBase):
    """``workers`` pooled threads; a dispatch submits every chunk and waits for them in order."""

    name: Final = "threadpool"

    __slots__ = ("_executor",)

    def __init__(self, *, workers: int) -> None:
        super().__init__(workers=workers)
        self._executor: ThreadPoolExecutor | None = None

    async def __aenter__(self) -> ThreadPool:
        self._executor = ThreadPoolExecutor(self.workers, thread_name_prefix="life-pool")
        self.threads_started = self.workers
        # The executor starts threads lazily, and not while one counts as idle: the first
        # dispatch would run its chunks one after another. Make every thread start now.
        # Shielded (it is brief): cancelled halfway, the pool would be lost with no __aexit__.
        ready = threading.Barrier(self.workers)
        with CancelScope(shield=True):
            await to_thread.run_sync(
                lambda: [
                    f.result() for f in [self._submit(ready.wait) for _ in range(self.workers)]
                ]
            )
        return self

    def _submit(self, call: Callable[[], object]) -> Future[object]:
        assert self._executor is not None
        return self._executor.submit(call)

    async def __aexit__(self, *exc_info: object) -> None:
        executor, self._executor = self._executor, None
        if executor is not None:
            # Joining blocks until running chunks end: off the event loop, and shielded, or a
            # cancelled run would leave before its threads were even told to stop.
            with CancelScope(shield=True):
                await to_thread.run_sync(lambda: executor.shutdown(wait=True, cancel_futures=True))

    async def map(self, fn: Callable[[T], R], jobs: Sequence[T]) -> list[R]:
        return await to_thread.run_sync(self._dispatch, fn, jobs)

    def blocking(self) -> BlockingMap:
        return self._dispatch

    def _dispatch(self, fn: Callable[[T], R], jobs: Sequence[T]) -> list[R]:
        assert self._executor is not None, "use the strategy in 'async with'"

        def sampled(job: T) -> R:
            self._peak.sample()
            return fn(job)

        futures = [self._executor.submit(sampled, job) for job in jobs]
        try:
            return [_result(future) for future in futures]
        finally:
            for future in futures:
                future.cancel()


def _result(future: Future[R]) -> R:
    """Wait for one future, looking up now and then to see whether the run was cancelled."""
    while True:
        # Before every wait, not only after a timeout: while chunks keep finishing, no wait
        # times out, and the dispatch would run to its end however long it is.
        from_thread.check_cancelled()
        try:
            return future.result(timeout=_POLL_S)
        except TimeoutError:
            pass
