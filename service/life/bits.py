"""Cells packed 64 to a ``uint64`` word: cell ``x`` of a row is bit ``x % 64`` of word ``x // 64``.

Bits past the grid's width in a row's last word are always zero: the engines rely on it.
"""

from __future__ import annotations

from typing import TypeAlias

import numpy as np
import numpy.typing as npt

from service.life.pattern import Cells

__all__ = ["Words", "last_word_mask", "pack", "unpack", "words_per_row"]

Words: TypeAlias = npt.NDArray[np.uint64]


def words_per_row(width: int) -> int:
    """How many 64-bit words hold a row of ``width`` cells."""
    return max(1, -(-width // 64))


def last_word_mask(width: int) -> int:
    """The bits of a row's last word that are cells of the grid."""
    used = width - 64 * (words_per_row(width) - 1)
    return (1 << used) - 1


def pack(cells: Cells) -> Words:
    """Pack a 0/1 array of shape (height, width) into (height, words_per_row(width)) words."""
    height, width = cells.shape
    packed = np.packbits(cells, axis=1, bitorder="little")
    rows = np.zeros((height, words_per_row(width) * 8), dtype=np.uint8)
    rows[:, : packed.shape[1]] = packed
    # The word layout is little-endian whatever the machine; view() would follow the host order.
    return rows.view("<u8").astype(np.uint64, copy=False)


def unpack(words: Words, width: int) -> Cells:
    """The inverse of :func:`pack`."""
    as_bytes = np.ascontiguousarray(words, dtype="<u8").view(np.uint8)
    cells = np.unpackbits(as_bytes, axis=1, count=width, bitorder="little")
    return np.ascontiguousarray(cells)
