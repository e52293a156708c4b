"""The numpy engine: the bit-sliced adder of the fast engine, written as whole-array ufuncs.

Cells stay packed 64 to a word, so each ufunc touches 1/64 of the bytes a cell-per-byte grid
would. The rule is turned into the few comparisons it needs, in Python, once per call.
"""

from __future__ import annotations

from functools import reduce
from operator import or_
from typing import Final, final

import numpy as np

from service.life.bits import Words, last_word_mask, pack, unpack
from service.life.pattern import Cells
from service.life.rules import Rule

__all__ = ["NumpyEngine", "advance_words"]

_ONE: Final = np.uint64(1)
_TOP: Final = np.uint64(63)


@final
class NumpyEngine:
    """Vectorised with numpy on bit-packed rows."""

    name: Final = "numpy"
    rate_hint: Final = 3e9

    def advance(
        self, cells: Cells, rule: Rule, generations: int, *, wrap_x: bool, wrap_y: bool
    ) -> Cells:
        width = cells.shape[1]
        words = advance_words(pack(cells), width, generations, wrap_x, wrap_y, rule)
        return unpack(words, width)


def advance_words(
    words: Words,
    width: int,
    generations: int,
    wrap_x: bool,
    wrap_y: bool,
    rule: Rule,
    *,
    shrink: tuple[bool, bool] = (False, False),
) -> Words:
    """Step packed rows; the same contract as the numba kernel's ``advance``.

    ``shrink`` (halo rows the caller discards) is accepted and ignored: whole-array ufuncs
    gain nothing from skipping a few rows.
    """
    # Counts include the cell itself: a live cell's count is its neighbours plus one.
    dead_counts = sorted(rule.birth)
    live_counts = sorted(n + 1 for n in rule.survival)
    mask = np.uint64(last_word_mask(width))
    top = np.uint64((width - 1) % 64)
    current = words.copy()
    for _ in range(generations):
        counts = _count(current, wrap_x, wrap_y, top)
        dead = _any_of(counts, dead_counts)
        live = _any_of(counts, live_counts)
        current = (dead & ~current) | (live & current)
        current[:, -1] &= mask
    return current


def _count(cur: Words, wrap_x: bool, wrap_y: bool, top: np.uint64) -> list[Words]:
    """The 4 bit planes of the 3x3 live count (cell included) for every cell."""
    up = np.roll(cur, 1, axis=0)
    down = np.roll(cur, -1, axis=0)
    if not wrap_y:
        up[0] = 0
        down[-1] = 0
    x = up ^ cur
    s0 = _pad_columns(x ^ down, wrap_x, top)
    s1 = _pad_columns((up & cur) | (down & x), wrap_x, top)
    w0, m0, e0 = _west(s0), s0[:, 1:-1], _east(s0)
    w1, m1, e1 = _west(s1), s1[:, 1:-1], _east(s1)
    t = w0 ^ m0
    carry = (w0 & m0) | (e0 & t)
    u, v = w1 ^ m1, w1 & m1
    w, z = e1 ^ carry, e1 & carry
    return [t ^ e0, u ^ w, (v ^ z) | (u & w), v & z]


def _pad_columns(s: Words, wrap_x: bool, top: np.uint64) -> Words:
    """Add a word at each row end holding what lies past the edge (see the numba kernel)."""
    padded = np.zeros((s.shape[0], s.shape[1] + 2), dtype=np.uint64)
    padded[:, 1:-1] = s
    if wrap_x:
        first = s[:, 0] & _ONE
        padded[:, 0] = ((s[:, -1] >> top) & _ONE) << _TOP
        padded[:, -1] = first
        if top < _TOP:
            padded[:, -2] |= first << (top + _ONE)
    return padded


def _west(s: Words) -> Words:
    return (s[:, 1:-1] << _ONE) | (s[:, :-2] >> _TOP)


def _east(s: Words) -> Words:
    return (s[:, 1:-1] >> _ONE) | (s[:, 2:] << _TOP)


def _any_of(planes: list[Words], counts: list[int]) -> Words:
    """Bits where the 4-bit count equals one of ``counts``."""
    if not counts:
        return np.zeros_like(planes[0])
    inverted = [~p for p in planes]
    matches = (
        reduce(np.bitwise_and, [planes[b] if n >> b & 1 else inverted[b] for b in range(4)])
        for n in counts
    )
    return reduce(or_, matches)
