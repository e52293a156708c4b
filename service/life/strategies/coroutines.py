"""``coroutines``: one anyio task per chunk in a task group (item 60).

Tasks are cheap where threads are not, but Life is CPU work: each task hands its chunk to a
worker thread through ``to_thread.run_sync`` under a ``CapacityLimiter``, so the event loop
never blocks and at most ``workers`` chunks compute at once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Final, TypeVar, final

from anyio import CapacityLimiter, create_task_group, to_thread

from service.life.strategies._base import StrategyBase

__all__ = ["Coroutines"]

T = TypeVar("T")
R = TypeVar("R")


@final
class Coroutines(StrategyBase):
    """A task per chunk; CPU work on at most ``workers`` threads at once."""

    name: Final = "coroutines"

    __slots__ = ("_limiter",)

    def __init__(self, *, workers: int) -> None:
        super().__init__(workers=workers)
        self._limiter = CapacityLimiter(workers)

    async def map(self, fn: Callable[[T], R], jobs: Sequence[T]) -> list[R]:
        results: list[R | None] = [None] * len(jobs)

        def sampled(job: T) -> R:
            self._peak.sample()
            return fn(job)

        async def chunk(index: int, job: T) -> None:
            results[index] = await to_thread.run_sync(sampled, job, limiter=self._limiter)

        try:
            async with create_task_group() as group:
                for index, job in enumerate(jobs):
                    group.start_soon(chunk, index, job)
        except BaseExceptionGroup as group_error:
            # One failing chunk cancels its siblings; the caller wants that chunk's error.
            raise _first_leaf(group_error) from None
        return results  # type: ignore[return-value]  # every slot was filled, or the group raised


def _first_leaf(group: BaseExceptionGroup[BaseException]) -> BaseException:
    error: BaseException = group
    while isinstance(error, BaseExceptionGroup):
        error = error.exceptions[0]
    return error
