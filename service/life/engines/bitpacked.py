"""The fast engine: the numba kernel, run on band threads that release the GIL."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Final, final

from service.life.bands import MIN_BAND_ROWS, advance_banded, split_rows
from service.life.bits import Words, pack, unpack
from service.life.pattern import Cells
from service.life.rules import Rule

__all__ = ["BitpackedEngine", "word_step"]

# Below this many cell-updates a call, starting threads costs more than it saves.
_PARALLEL_WORK: Final = 20_000_000


def word_step(rule: Rule) -> Callable[[Words, int, int, bool, bool], Words]:
    """The numba kernel with ``rule`` bound in (imported late: numba takes a while to load)."""
    from service.life.engines._kernel import advance

    def step(words: Words, width: int, generations: int, wrap_x: bool, wrap_y: bool) -> Words:
        result: Words = advance(
            words, width, generations, wrap_x, wrap_y, rule.birth_mask, rule.survival_mask
        )
        return result

    return step


@final
class BitpackedEngine:
    """64 cells a word, bit-sliced adders, compiled by numba; bands on ``workers`` threads."""

    name: Final = "bitpacked"
    rate_hint: Final = 5e10

    __slots__ = ("workers",)

    def __init__(self, *, workers: int | None = None) -> None:
        self.workers = workers or os.cpu_count() or 1

    def __repr__(self) -> str:
        return f"<BitpackedEngine workers={self.workers}>"

    def advance(
        self, cells: Cells, rule: Rule, generations: int, *, wrap_x: bool, wrap_y: bool
    ) -> Cells:
        height, width = cells.shape
        step = word_step(rule)
        words = pack(cells)
        bands = split_rows(height, min(self.workers, height // MIN_BAND_ROWS))
        if len(bands) < 2 or height * width * generations < _PARALLEL_WORK:
            return unpack(step(words, width, generations, wrap_x, wrap_y), width)
        with ThreadPoolExecutor(len(bands), thread_name_prefix="life-band") as pool:

            def run_all(thunks: Sequence[Callable[[], Words]]) -> list[Words]:
                return list(pool.map(lambda thunk: thunk(), thunks))

            words = advance_banded(
                words,
                width,
                generations,
                wrap_x=wrap_x,
                wrap_y=wrap_y,
                step=step,
                bands=bands,
                run_all=run_all,
            )
        return unpack(words, width)
