"""``processes``: worker processes that share the grid through shared memory.

Threads share one interpreter lock for Python code; processes do not. The grid is not
pickled per generation: it lives in two shared-memory blocks, and each dispatch sends only
chunk descriptions. Any ``concurrent.futures.Executor`` can replace the pool (a distributed
engine's, say) - it then gets the same descriptions, so it needs the same shared memory.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from typing import ClassVar, Final, TypeVar, final

from anyio import CancelScope, to_thread

from adapters.processes import ExecutorPool, ProcessPool, TaskFailed, WorkerCrashed, WorkerPool
from service.errors import WorkerError
from service.life.strategies._base import StrategyBase

__all__ = ["Processes"]

T = TypeVar("T")
R = TypeVar("R")

# Imported once by the fork server, so every worker starts with numpy and the compiled kernel.
PRELOAD: Final = ("numpy", "service.life.chunks", "service.life.engines._warm")


@final
class Processes(StrategyBase):
    """``workers`` processes (or any Executor) for the whole run; terminated on cancellation."""

    name: Final = "processes"
    shared_memory: ClassVar[bool] = True

    __slots__ = ("_executor", "_pool")

    def __init__(self, *, workers: int, executor: Executor | None = None) -> None:
        super().__init__(workers=workers)
        self._executor = executor
        self._pool: WorkerPool | None = None

    async def __aenter__(self) -> Processes:
        if self._executor is not None:
            self._pool = ExecutorPool(self._executor)
        else:
            workers = self.workers
            # Shielded (it is brief): cancelled halfway, the started processes would be lost
            # with no __aexit__ to reap them.
            with CancelScope(shield=True):
                self._pool = await to_thread.run_sync(lambda: ProcessPool(workers, preload=PRELOAD))
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        failed = bool(exc_info) and exc_info[0] is not None
        # Shielded: a cancelled run must still reap its children before it returns.
        with CancelScope(shield=True):
            await to_thread.run_sync(pool.terminate if failed else pool.close)

    async def map(self, fn: Callable[[T], R], jobs: Sequence[T]) -> list[R]:
        pool = self._pool
        assert pool is not None, "use the strategy in 'async with'"
        self._peak.sample()
        try:
            # Abandoned on cancellation: the waiting thread is released when __aexit__
            # terminates the workers, and the run does not wait for the dispatch to end.
            return await to_thread.run_sync(pool.map, fn, jobs, abandon_on_cancel=True)
        except WorkerCrashed as exc:
            raise WorkerError(f"a Life worker process died: {exc}") from exc
        except TaskFailed as exc:
            raise WorkerError(f"a Life chunk failed in a worker process: {exc}") from exc
