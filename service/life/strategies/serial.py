"""``serial``: the chunks one after another, as the book's ``simulate`` does."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Final, TypeVar, final

from anyio import to_thread

from service.life.strategies._base import BlockingMap, StrategyBase, run_in_order

__all__ = ["Serial"]

T = TypeVar("T")
R = TypeVar("R")


@final
class Serial(StrategyBase):
    """One worker thread computes every chunk in turn (the event loop never blocks)."""

    name: Final = "serial"

    __slots__ = ()

    def __init__(self) -> None:
        super().__init__(workers=1)

    async def map(self, fn: Callable[[T], R], jobs: Sequence[T]) -> list[R]:
        return await to_thread.run_sync(run_in_order, fn, jobs, self._peak)

    def blocking(self) -> BlockingMap:
        return self._in_order

    def _in_order(self, fn: Callable[[T], R], jobs: Sequence[T]) -> list[R]:
        return run_in_order(fn, jobs, self._peak)
