"""``serial``: the chunks one after another, as the book's ``simulate`` does."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Final, TypeVar, final

from anyio import to_thread

from service.life.strategies._base import ThreadPeak, run_in_order

__all__ = ["Serial"]

T = TypeVar("T")
R = TypeVar("R")


@final
class Serial:
    """One worker thread computes every chunk in turn (the event loop never blocks)."""

    name: Final = "serial"
    shared_memory: Final = False

    __slots__ = ("_peak",)

    def __init__(self) -> None:
        self._peak = ThreadPeak()

    def __repr__(self) -> str:
        return "<Serial>"

    @property
    def workers(self) -> int:
        return 1

    @property
    def peak_threads(self) -> int:
        return self._peak.peak

    async def __aenter__(self) -> Serial:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        return None

    async def map(self, fn: Callable[[T], R], jobs: Sequence[T]) -> list[R]:
        return await to_thread.run_sync(run_in_order, fn, jobs, self._peak)
