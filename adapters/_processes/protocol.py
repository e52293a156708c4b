"""The one shape every pool has: ``map`` in order, ``close`` in order, ``terminate`` at once."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, Self, TypeVar

__all__ = ["ClosesOnExit", "R", "T", "WorkerPool"]

T = TypeVar("T")
R = TypeVar("R")


class WorkerPool(Protocol):
    """Workers that run one function over many items, and can be stopped gently or at once."""

    def map(self, fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
        """Run ``fn`` on every item; block until all are done; return the results in order.

        The first exception a task raises is raised here, with its type; a worker that dies
        raises :class:`WorkerCrashed`. When ``map`` returns or raises, none of its tasks is
        still running (unless :meth:`terminate` was called; see each pool for what it can stop).
        """
        ...

    def close(self) -> None:
        """Take no new work, let a running ``map`` finish, and join the workers."""
        ...

    def terminate(self) -> None:
        """Stop now: cancel what has not started and stop what runs if the pool can. Idempotent."""
        ...


class ClosesOnExit:
    """``with pool:`` closes it after a clean block and terminates it after an exception."""

    __slots__ = ()

    def close(self) -> None:
        raise NotImplementedError

    def terminate(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        if kind is None:
            self.close()
        else:
            self.terminate()
