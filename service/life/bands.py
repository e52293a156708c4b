"""Bands of rows with halo rows, so that workers step several generations between meetings.

A band of rows is copied out with ``k`` extra rows above and below (the halo) and stepped
``k`` generations as if nothing lay beyond it. Wrong values enter from its open ends at one
row per generation, so after ``k`` generations the halo is spoiled and the band is exact: the
workers only meet every ``k`` generations instead of every one.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Final, TypeAlias, final

import numpy as np

from service.life.bits import Words

__all__ = ["Band", "RunAll", "WordStep", "advance_banded", "halo_depth", "split_rows"]

WordStep: TypeAlias = Callable[[Words, int, int, bool, bool], Words]
"""``step(words, width, generations, wrap_x, wrap_y) -> words``, the rule bound in."""

RunAll: TypeAlias = Callable[[Sequence[Callable[[], Words]]], list[Words]]
"""Run every thunk (on threads, a pool, processes...) and return their results in order."""

MIN_BAND_ROWS: Final = 16


@final
@dataclass(frozen=True, slots=True)
class Band:
    """Rows ``start`` (inclusive) to ``stop`` (exclusive) of the grid."""

    start: int
    stop: int

    @property
    def rows(self) -> int:
        return self.stop - self.start


def split_rows(height: int, parts: int) -> list[Band]:
    """Split ``height`` rows into at most ``parts`` bands of nearly equal size."""
    parts = max(1, min(parts, height))
    edges = [height * i // parts for i in range(parts + 1)]
    return [Band(a, b) for a, b in pairwise(edges) if b > a]


def halo_depth(band_rows: int, generations: int) -> int:
    """Generations per meeting: halo work grows as k/rows, meeting costs as 1/k; balance them."""
    return max(1, min(generations, round(math.sqrt(band_rows / 2))))


def with_halo(words: Words, band: Band, halo: int, wrap_y: bool) -> Words:
    """The band's rows with ``halo`` rows either side: wrapped on a torus, dead on a plane."""
    height = words.shape[0]
    index = np.arange(band.start - halo, band.stop + halo)
    if wrap_y:
        wrapped: Words = words[index % height]
        return wrapped
    out = np.zeros((index.size, words.shape[1]), dtype=words.dtype)
    inside = (index >= 0) & (index < height)
    out[inside] = words[index[inside]]
    return out


def advance_banded(
    words: Words,
    width: int,
    generations: int,
    *,
    wrap_x: bool,
    wrap_y: bool,
    step: WordStep,
    bands: Sequence[Band],
    run_all: RunAll,
    depth: int | None = None,
) -> Words:
    """Step ``generations`` in rounds of ``depth``; each round runs every band through run_all."""
    k = depth or halo_depth(min(b.rows for b in bands), generations)
    current = words
    done = 0
    while done < generations:
        gens = min(k, generations - done)
        thunks = [_band_thunk(current, b, gens, width, wrap_x, wrap_y, step) for b in bands]
        results = run_all(thunks)
        current = np.concatenate(
            [r[gens : gens + b.rows] for r, b in zip(results, bands, strict=True)]
        )
        done += gens
    return current


def _band_thunk(
    words: Words, band: Band, gens: int, width: int, wrap_x: bool, wrap_y: bool, step: WordStep
) -> Callable[[], Words]:
    piece = with_halo(words, band, gens, wrap_y)
    return lambda: step(piece, width, gens, wrap_x, False)
