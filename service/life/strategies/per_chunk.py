"""``threads``: a new ``threading.Thread`` for every chunk of every dispatch (the book's item 57).

It shows what a thread per unit of work costs: each start allocates a stack and each chunk
waits for the scheduler, so it is refused past ``[life] max_threads`` threads at once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Final, TypeVar, final

from anyio import from_thread, to_thread

from service.errors import LimitExceeded
from service.life.strategies._base import BlockingMap, StrategyBase, first_error

__all__ = ["ThreadPerChunk"]

T = TypeVar("T")
R = TypeVar("R")

# How often the waiting thread looks up from join() to see whether the run was cancelled.
_POLL_S: Final = 0.05


@final
class ThreadPerChunk(StrategyBase):
    """Start one thread per chunk, join them all; every dispatch starts afresh."""

    name: Final = "threads"

    __slots__ = ("_stop", "max_threads")

    def __init__(self, *, workers: int, max_threads: int) -> None:
        super().__init__(workers=workers)  # bands to aim for; cell chunks start one per cell
        self.max_threads = max_threads
        self._stop = threading.Event()

    def __repr__(self) -> str:
        return f"<ThreadPerChunk workers={self.workers} max_threads={self.max_threads}>"

    async def __aexit__(self, *exc_info: object) -> None:
        self._stop.set()

    async def map(self, fn: Callable[[T], R], jobs: Sequence[T]) -> list[R]:
        self._check(len(jobs))
        return await to_thread.run_sync(self._dispatch, fn, jobs)

    def blocking(self) -> BlockingMap:
        return self._checked_dispatch

    def _check(self, chunks: int) -> None:
        if chunks > self.max_threads:
            raise LimitExceeded(
                f"strategy 'threads' would start {chunks} threads at once, past "
                f"life.max_threads = {self.max_threads}: use bigger chunks (--chunk-rows) or "
                "a pool (--strategy threadpool or queue)"
            )

    def _checked_dispatch(self, fn: Callable[[T], R], jobs: Sequence[T]) -> list[R]:
        self._check(len(jobs))
        return self._dispatch(fn, jobs)

    def _dispatch(self, fn: Callable[[T], R], jobs: Sequence[T]) -> list[R]:
        # A cancelled dispatch set it; this dispatch must run its chunks, not skip them all.
        self._stop.clear()
        results: list[R | None] = [None] * len(jobs)
        errors: list[BaseException | None] = [None] * len(jobs)

        def chunk(index: int, job: T) -> None:
            if self._stop.is_set():
                return
            self._peak.sample()
            try:
                results[index] = fn(job)
            except BaseException as exc:  # handed to the caller below
                errors[index] = exc

        threads = [
            threading.Thread(target=chunk, args=(i, job), name=f"life-chunk-{i}")
            for i, job in enumerate(jobs)
        ]
        self.threads_started += len(threads)
        for thread in threads:
            thread.start()
        self._join(threads)
        if (error := first_error(errors)) is not None:
            raise error
        return results  # type: ignore[return-value]  # every slot was filled, or the group raised

    def _join(self, threads: list[threading.Thread]) -> None:
        """Join every thread; on cancellation tell the ones not yet started to skip their work."""
        cancelled: BaseException | None = None
        for thread in threads:
            while thread.is_alive():
                thread.join(_POLL_S)
                if cancelled is None:
                    try:
                        from_thread.check_cancelled()
                    except BaseException as exc:  # re-raised once no thread is left
                        cancelled = exc
                        self._stop.set()
        if cancelled is not None:
            raise cancelled
