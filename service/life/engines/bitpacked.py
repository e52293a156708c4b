"""The fast engine: the numba kernel (imported late: loading numba takes a while).

It computes on one thread and releases the GIL; the fan-out strategies run it on several.
"""

from __future__ import annotations

from typing import Final, final

from service.life.bands import Band, fill_rows, halo_rows
from service.life.bits import Words, pack, unpack
from service.life.engines._buffers import lend
from service.life.pattern import Cells
from service.life.rules import Rule

__all__ = ["BitpackedEngine", "step_band", "step_words"]


def step_words(
    words: Words,
    width: int,
    generations: int,
    wrap_x: bool,
    wrap_y: bool,
    rule: Rule,
    *,
    shrink: tuple[bool, bool] = (False, False),
) -> Words:
    """Step packed rows with the numba kernel (``shrink``: see ``advance_padded``)."""
    from service.life.engines._kernel import advance_padded

    height, n = words.shape
    birth, survival = rule.birth_mask, rule.survival_mask
    with lend(height + 2, n + 2) as (current, following):
        current[1 : height + 1, 1 : n + 1] = words
        flipped = advance_padded(
            current, following, width, generations, wrap_x, wrap_y, birth, survival, *shrink
        )
        result = following if flipped else current
        return result[1 : height + 1, 1 : n + 1].copy()


def step_band(
    source: Words,
    target: Words,
    band: Band,
    halo: int,
    width: int,
    generations: int,
    wrap_x: bool,
    wrap_y: bool,
    rule: Rule,
) -> None:
    """Step ``band`` of ``source`` with ``halo`` rows around it, into the same rows of ``target``.

    The rows go straight from ``source`` into padded buffers lent by ``_buffers`` and the band's
    result straight into ``target``: no piece is cut out and no result copied in between.
    A ``halo`` of 0 means the band is the whole grid, which wraps by itself when ``wrap_y``.
    """
    from service.life.engines._kernel import advance_padded

    above, below = halo_rows(band, halo, source.shape[0], wrap_y=wrap_y) if halo else (0, 0)
    rows, n = above + band.rows + below, source.shape[1]
    birth, survival = rule.birth_mask, rule.survival_mask
    with lend(rows + 2, n + 2) as (current, following):
        fill_rows(source, band.start - above, current[1 : rows + 1, 1 : n + 1])
        flipped = advance_padded(
            current,
            following,
            width,
            generations,
            wrap_x,
            wrap_y and not halo,
            birth,
            survival,
            above == halo > 0,
            below == halo > 0,
        )
        result = following if flipped else current
        target[band.start : band.stop] = result[1 + above : 1 + above + band.rows, 1 : n + 1]


@final
class BitpackedEngine:
    """64 cells a word, bit-sliced adders, compiled by numba."""

    name: Final = "bitpacked"
    rate_hint: Final = 5e10

    def __repr__(self) -> str:
        return "<BitpackedEngine>"

    def advance(
        self, cells: Cells, rule: Rule, generations: int, *, wrap_x: bool, wrap_y: bool
    ) -> Cells:
        width = cells.shape[1]
        return unpack(step_words(pack(cells), width, generations, wrap_x, wrap_y, rule), width)
