"""``queue``: a fixed set of worker threads fed through closable queues (items 55 and 58).

The book's refactoring, kept honest: the inbox is bounded, the workers end when it is
closed instead of by one sentinel each, and a chunk's exception travels back as an outcome.
"""

from __future__ import annotations

import queue
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, Final, TypeVar, final

from anyio import CancelScope, from_thread, to_thread

from adapters.threads import (
    ClosableQueue,
    Done,
    Failed,
    Outcome,
    StoppableWorker,
    start_workers,
    stop_workers,
)
from service.life.strategies._base import BlockingMap, StrategyBase

__all__ = ["QueueWorkers"]

T = TypeVar("T")
R = TypeVar("R")

_POLL_S: Final = 0.05
Task = tuple[int, int, Callable[[Any], Any], Any]
"""(dispatch, index, fn, job)"""
Answer = tuple[int, int, Outcome[Any]]
"""(dispatch, index, the chunk's outcome)"""


@final
class QueueWorkers(StrategyBase):
    """``workers`` StoppableWorker threads between an inbox and an outbox, for the whole run."""

    name: Final = "queue"

    __slots__ = ("_current", "_inbox", "_outbox", "_threads")

    def __init__(self, *, workers: int) -> None:
        super().__init__(workers=workers)
        # Bounded so a producer can never run ahead of the workers; the outbox holds at most
        # one dispatch of small results, which the dispatch itself waits for.
        self._inbox: ClosableQueue[Task] = ClosableQueue(2 * workers)
        self._outbox: ClosableQueue[Outcome[Answer]] = ClosableQueue.unbounded()
        self._threads: list[StoppableWorker[Task, Answer]] = []
        # The queues outlive a dispatch: one that failed or was cancelled leaves tasks in the
        # inbox and answers on their way, so every task and answer carries its dispatch number.
        self._current = 0

    async def __aenter__(self) -> QueueWorkers:
        self.threads_started = self.workers
        self._threads = start_workers(
            self.workers, self._work, self._inbox, self._outbox, name="life-queue"
        )
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        threads, self._threads = self._threads, []
        # Discard what is queued (the run is over either way) and join every worker; shielded,
        # or a cancelled run would leave before its workers were even told to stop.
        with CancelScope(shield=True):
            await to_thread.run_sync(lambda: stop_workers(self._inbox, threads, cancel=True))
        self._outbox.close()

    async def map(self, fn: Callable[[T], R], jobs: Sequence[T]) -> list[R]:
        return await to_thread.run_sync(self._dispatch, fn, jobs)

    def blocking(self) -> BlockingMap:
        return self._dispatch

    def _work(self, task: Task) -> Answer:
        self._peak.sample()
        dispatch, index, fn, job = task
        if dispatch != self._current:
            return dispatch, index, Done(None)  # nobody waits for it any more: skip the work
        try:
            return dispatch, index, Done(fn(job))
        except BaseException as exc:  # tagged with its dispatch, unlike the worker's own Failed
            return dispatch, index, Failed(exc)

    def _dispatch(self, fn: Callable[[T], R], jobs: Sequence[T]) -> list[R]:
        self._current += 1
        current = self._current
        results: list[Any] = [None] * len(jobs)
        for index, job in enumerate(jobs):
            _retry(partial(self._inbox.put, (current, index, fn, job), timeout=_POLL_S), queue.Full)
        waiting = len(jobs)
        while waiting:
            answer = _retry(lambda: self._outbox.get(timeout=_POLL_S), queue.Empty)
            dispatch, index, outcome = answer.unwrap()
            if dispatch != current:
                continue  # left over from a dispatch that failed or was cancelled
            results[index] = outcome.unwrap()  # raises the chunk's own exception
            waiting -= 1
        return results


def _retry(attempt: Callable[[], R], waiting: type[Exception]) -> R:
    """Repeat a timed queue operation, checking in between whether the run was cancelled."""
    while True:
        # Before every attempt, not only after a timeout: while answers keep coming, no
        # attempt times out, and the dispatch would run to its end however long it is.
        from_thread.check_cancelled()
        try:
            return attempt()
        except waiting:
            pass
