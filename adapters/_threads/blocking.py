"""Blocking calls on worker threads, a bounded number at a time (item 53).

Threads are for blocking I/O: a thread waiting in a system call releases the GIL, so a few of
them overlap their waits even though only one runs Python at a time. Here the threads come from
anyio's pool through ``to_thread.run_sync``, and a ``CapacityLimiter`` bounds how many calls run
at once.

Cancellation: a call still waiting for the limiter is cancelled at once. A call already
running on a thread cannot be interrupted (Python threads cannot be killed), so the awaiting
task waits for it to finish, takes its result, and meets the cancellation at its next
checkpoint (on both backends). The thread is never abandoned (no ``abandon_on_cancel``), so no
call outlives the task group that owns it. A long call can end early by polling
``anyio.from_thread.check_cancelled()`` between steps.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar, TypeVarTuple, final

import anyio
import anyio.to_thread

__all__ = ["BlockingRunner", "run_blocking"]

R = TypeVar("R")
Ts = TypeVarTuple("Ts")


@final
class BlockingRunner:
    """Runs blocking callables on threads, at most ``limit`` at once across every caller.

    One runner shares one limiter, so the pipeline and the daemon can hand the same runner to
    many tasks and still hold the thread count to ``limit``. Use it within one event loop.
    """

    __slots__ = ("_limiter",)

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError(f"limit must be >= 1, got {limit}")
        self._limiter = anyio.CapacityLimiter(limit)

    @property
    def limit(self) -> int:
        """The most calls that run at the same time."""
        return int(self._limiter.total_tokens)

    @property
    def running(self) -> int:
        """Calls running now."""
        return int(self._limiter.borrowed_tokens)

    def __repr__(self) -> str:
        return f"<BlockingRunner running={self.running}/{self.limit}>"

    async def run(self, call: Callable[[*Ts], R], *args: *Ts) -> R:
        """Return ``call(*args)``, run on a worker thread once the limiter lets it in."""
        return await anyio.to_thread.run_sync(call, *args, limiter=self._limiter)

    async def run_all(self, calls: Sequence[Callable[[], R]]) -> list[R]:
        """Run every call, overlapping up to the limit; return their results in input order.

        The first exception cancels the calls still waiting for a thread and, once the running
        ones finish, propagates. A task group gathers exceptions in an ``ExceptionGroup``; when it
        holds exactly one, that exception itself is raised (with its own cause and traceback), so
        callers catch ``OSError``, not a group. Several at once stay grouped.
        """
        results: dict[int, R] = {}

        async def run_one(index: int, call: Callable[[], R]) -> None:
            results[index] = await self.run(call)

        try:
            async with anyio.create_task_group() as group:
                for index, call in enumerate(calls):
                    group.start_soon(run_one, index, call)
        except BaseExceptionGroup as errors:
            if len(errors.exceptions) != 1:
                raise
            only = errors.exceptions[0]
        else:
            return [results[index] for index in range(len(calls))]
        # Raised outside the except block, so Python does not chain the group as its context.
        raise only


async def run_blocking(calls: Sequence[Callable[[], R]], *, limit: int) -> list[R]:
    """Run blocking ``calls`` on threads, ``limit`` at a time; results in input order.

    A one-off :meth:`BlockingRunner.run_all`; see it for how exceptions propagate.
    """
    return await BlockingRunner(limit).run_all(calls)
