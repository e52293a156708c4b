"""The numba kernel behind the bit-packed engine: 64 cells a word, neighbours by bit-sliced adders.

For every word the kernel first adds the three rows vertically (a 2-bit sum per column), then
adds that column sum shifted one cell west, unshifted and shifted one cell east: the result is
the 4-bit count ``c3 c2 c1 c0`` of live cells in the 3x3 block, the cell itself included (0-9).
A rule maps that count and the cell's state to the next state through two 10-entry tables,
evaluated as a tree of bitwise multiplexers, so any B/S rule costs the same and one compiled
kernel (cached on disk) serves them all. Compiling the tables in as constants, one kernel per
rule, was measured slower on AVX-512: the generic tree maps onto ternary-logic instructions.

The kernel releases the GIL, so band threads run it in parallel.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit, uint64

__all__ = ["advance", "advance_padded"]

_ONE = uint64(1)
# Rows are stepped in blocks of about this many words: the column sums stay in L1.
_BLOCK_WORDS = 1024


@njit(inline="always")
def _ones_if(table: Any, n: int) -> Any:
    """All 64 bits set when bit ``n`` of ``table`` is set, else zero."""
    return uint64(0) - (uint64(table >> n) & _ONE)


@njit(inline="always")
def _select(s: Any, low: Any, high: Any) -> Any:
    """Bitwise multiplexer: ``high`` where ``s`` has a 1, ``low`` where it has a 0."""
    return low ^ ((low ^ high) & s)


@njit(inline="always")
def _lookup(c0: Any, c1: Any, c2: Any, c3: Any, table: Any) -> Any:
    """Bit n of ``table``, for every bit position, where n is the 4-bit count ``c3 c2 c1 c0``."""
    g0 = _select(c0, _ones_if(table, 0), _ones_if(table, 1))
    g1 = _select(c0, _ones_if(table, 2), _ones_if(table, 3))
    g2 = _select(c0, _ones_if(table, 4), _ones_if(table, 5))
    g3 = _select(c0, _ones_if(table, 6), _ones_if(table, 7))
    low = _select(c2, _select(c1, g0, g1), _select(c1, g2, g3))
    # Counts 8 and 9 are the only ones with c3 set, and then c2 = c1 = 0.
    return _select(c3, low, _select(c0, _ones_if(table, 8), _ones_if(table, 9)))


@njit(inline="always")
def _next(
    w0: Any, w1: Any, m0: Any, m1: Any, e0: Any, e1: Any, alive: Any, dead_t: Any, live_t: Any
) -> Any:
    """Add three 2-bit column sums (west, middle, east) and apply the rule tables."""
    t = w0 ^ m0
    c0 = t ^ e0
    carry = (w0 & m0) | (e0 & t)
    u = w1 ^ m1
    v = w1 & m1
    w = e1 ^ carry
    z = e1 & carry
    c1 = u ^ w
    c2 = (v ^ z) | (u & w)
    c3 = v & z
    return _select(alive, _lookup(c0, c1, c2, c3, dead_t), _lookup(c0, c1, c2, c3, live_t))


@njit(inline="always")
def _vertical(grid: Any, s0: Any, s1: Any, first: int, count: int) -> None:
    """Column sums of rows ``first``..``first + count`` of the padded grid, as one flat loop."""
    stride = grid.shape[1]
    size = count * stride
    flat = grid.reshape(-1)
    # Views indexed by the loop variable alone: numba then needs no negative-index checks and
    # LLVM vectorises the loop.
    up = flat[(first - 1) * stride : (first - 1) * stride + size]
    mid = flat[first * stride : first * stride + size]
    down = flat[(first + 1) * stride : (first + 1) * stride + size]
    for j in range(size):
        x = up[j] ^ mid[j]
        s0[j] = x ^ down[j]
        s1[j] = (up[j] & mid[j]) | (down[j] & x)


@njit(inline="always")
def _edges(s: Any, row: int, n: int, wrap: Any, top: Any) -> None:
    """Put what lies past both ends of a row into its padding words (see the module notes)."""
    base = row * (n + 2)
    first = (s[base + 1] & _ONE) * wrap
    s[base] = (((s[base + n] >> top) & _ONE) * wrap) << uint64(63)
    s[base + n + 1] = first
    if top < uint64(63):
        s[base + n] |= first << (top + _ONE)


@njit(inline="always")
def _horizontal(grid: Any, out: Any, s0: Any, s1: Any, first: int, count: int, tables: Any) -> None:
    """Next states of rows ``first``..``first + count``, as one flat loop over the padded rows."""
    dead_t, live_t = tables
    stride = grid.shape[1]
    size = count * stride
    alive = grid.reshape(-1)[first * stride : first * stride + size]
    following = out.reshape(-1)[first * stride : first * stride + size]
    for j in range(1, size - 1):
        following[j] = _next(
            (s0[j] << _ONE) | (s0[j - 1] >> uint64(63)),
            (s1[j] << _ONE) | (s1[j - 1] >> uint64(63)),
            s0[j],
            s1[j],
            (s0[j] >> _ONE) | (s0[j + 1] << uint64(63)),
            (s1[j] >> _ONE) | (s1[j + 1] << uint64(63)),
            alive[j],
            dead_t,
            live_t,
        )


@njit(inline="always")
def _ghost_rows(grid: Any, wrap_y: bool) -> None:
    """Rows 0 and height+1 hold what lies above and below: the far rows, or dead cells."""
    height = grid.shape[0] - 2
    if wrap_y:
        grid[0, :] = grid[height, :]
        grid[height + 1, :] = grid[1, :]
    else:
        grid[0, :] = 0
        grid[height + 1, :] = 0


@njit(nogil=True, cache=True)
def advance_padded(
    current: Any,
    following: Any,
    width: int,
    generations: int,
    wrap_x: bool,
    wrap_y: bool,
    birth: int,
    survival: int,
    shrink_top: bool,
    shrink_bottom: bool,
) -> bool:
    """Step a padded grid in place, ping-ponging between two buffers of the same shape.

    ``current`` holds the rows at ``[1 : height + 1, 1 : n + 1]``, with a padding word at both
    ends of each row and a ghost row above and below (their contents are ignored). Returns
    True when the result ended in ``following``. Callers that step often keep both buffers:
    fresh ones cost page faults on every call.

    ``shrink_top``/``shrink_bottom`` say the rows at that end are a halo the caller will throw
    away: wrong values creep in from there at one row a generation, so generation ``g`` only
    computes what is still right, ``g + 1`` rows fewer at each such end (a trapezoid), and
    the halo costs half of what stepping it whole would.
    """
    height = current.shape[0] - 2
    n = current.shape[1] - 2
    block = max(1, _BLOCK_WORDS // (n + 2))
    s0 = np.empty(block * (n + 2), dtype=np.uint64)
    s1 = np.empty(block * (n + 2), dtype=np.uint64)
    top = uint64((width - 1) % 64)
    mask = (uint64(2) << top) - _ONE
    wrap = uint64(1 if wrap_x else 0)
    # The 3x3 count includes the cell itself: a dead cell's count is its neighbour count, a
    # live cell's is one more, hence the survival table shifted up by one.
    tables = (birth, survival << 1)
    for g in range(generations):
        _ghost_rows(current, wrap_y)
        low = 1 + (g + 1 if shrink_top else 0)
        high = height + 1 - (g + 1 if shrink_bottom else 0)
        for first in range(low, high, block):
            count = min(block, high - first)
            _vertical(current, s0, s1, first, count)
            for row in range(count):
                _edges(s0, row, n, wrap, top)
                _edges(s1, row, n, wrap, top)
            _horizontal(current, following, s0, s1, first, count, tables)
            for row in range(first, first + count):
                following[row, n] &= mask
        current, following = following, current
    return generations % 2 == 1


@njit(nogil=True, cache=True)
def advance(
    words: Any, width: int, generations: int, wrap_x: bool, wrap_y: bool, birth: int, survival: int
) -> Any:
    """Step packed rows ``generations`` times; ``birth``/``survival`` are the rule's count masks.

    Rows beyond the first and last are dead unless ``wrap_y``; cells beyond the row ends are
    dead unless ``wrap_x``. Returns a new array; ``words`` is not modified.
    """
    height, n = words.shape
    # Each row gets a padding word at both ends and the grid a ghost row above and below, so
    # that both passes run as flat loops over many rows: with one short loop per row, loop
    # set-up cost as much as the work on a 2048-cell row.
    current = np.zeros((height + 2, n + 2), dtype=np.uint64)
    current[1 : height + 1, 1 : n + 1] = words
    following = np.zeros_like(current)
    flipped = advance_padded(
        current, following, width, generations, wrap_x, wrap_y, birth, survival, False, False
    )
    result = following if flipped else current
    return result[1 : height + 1, 1 : n + 1].copy()
