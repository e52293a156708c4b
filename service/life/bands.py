"""Bands of rows with halo rows, so that workers step several generations between meetings.

A band of rows is copied out with ``k`` extra rows above and below (the halo) and stepped
``k`` generations as if nothing lay beyond it. Wrong values enter from its open ends at one
row per generation, so after ``k`` generations the halo is spoiled and the band is exact: the
workers only meet every ``k`` generations instead of every one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import final

import numpy as np

from service.life.bits import Words

__all__ = ["Band", "fill_rows", "halo_depth", "halo_rows", "with_halo"]


@final
@dataclass(frozen=True, slots=True)
class Band:
    """Rows ``start`` (inclusive) to ``stop`` (exclusive) of the grid."""

    start: int
    stop: int

    @property
    def rows(self) -> int:
        return self.stop - self.start


def halo_depth(band_rows: int, generations: int) -> int:
    """Generations per meeting: halo work grows as k/rows, meeting costs as 1/k; balance them.

    With trapezoids (see the kernel) halo work is about k/rows of a dispatch; a meeting costs
    about as much as stepping a few thousand rows once (thread wake-ups, copies). Measured on
    2048- and 4096-row grids, sqrt(8 * rows) balances them: 90 generations for 1024 rows.
    """
    return max(1, min(generations, round(math.sqrt(8 * band_rows))))


def with_halo(words: Words, band: Band, halo: int, *, wrap_y: bool) -> Words:
    r"""The band's rows with ``halo`` rows either side: wrapped on a torus, cut at a plane's edges.

    A plane's halo stops at the grid's first and last rows instead of being padded with dead
    rows: padding rows would be stepped like any others and come to life, while past a plane's
    edge every cell stays dead in every generation, as the kernel assumes beyond the rows it
    is given. The band starts :func:`halo_rows`\ ``[0]`` rows into the piece.
    """
    above, below = halo_rows(band, halo, words.shape[0], wrap_y=wrap_y)
    piece = np.empty((above + band.rows + below, words.shape[1]), dtype=words.dtype)
    fill_rows(words, band.start - above, piece)
    return piece


def halo_rows(band: Band, halo: int, height: int, *, wrap_y: bool) -> tuple[int, int]:
    """How many halo rows go above and below the band (fewer at a plane's edges)."""
    if wrap_y:
        return halo, halo
    return min(halo, band.start), min(halo, height - band.stop)


def fill_rows(words: Words, first: int, out: Words) -> None:
    """Copy ``len(out)`` rows starting at row ``first`` into ``out``, wrapping past either end.

    Contiguous runs are copied as slices (no index arrays), however often the rows wrap.
    """
    height = words.shape[0]
    done = 0
    while done < out.shape[0]:
        row = (first + done) % height
        take = min(out.shape[0] - done, height - row)
        out[done : done + take] = words[row : row + take]
        done += take
