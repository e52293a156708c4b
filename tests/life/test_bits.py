"""Cells packed 64 to a word: the layout, the zero padding, and the round trip."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from service.life.bits import last_word_mask, pack, unpack, words_per_row
from service.life.pattern import Cells

ALL_BITS = (1 << 64) - 1


@st.composite
def grids(draw: st.DrawFn) -> Cells:
    height = draw(st.integers(1, 6))
    width = draw(st.one_of(st.sampled_from([1, 63, 64, 65, 127, 128, 129]), st.integers(1, 200)))
    cells: Cells = draw(arrays(np.uint8, (height, width), elements=st.integers(0, 1)))
    return cells


@pytest.mark.parametrize(
    ("width", "words", "mask"),
    [
        (1, 1, 1),
        (2, 1, 3),
        (63, 1, ALL_BITS >> 1),
        (64, 1, ALL_BITS),
        (65, 2, 1),
        (128, 2, ALL_BITS),
        (129, 3, 1),
        (200, 4, (1 << 8) - 1),
    ],
)
def test_words_per_row_and_last_word_mask(width: int, words: int, mask: int) -> None:
    assert words_per_row(width) == words
    assert last_word_mask(width) == mask


def test_cell_x_is_bit_x_mod_64_of_word_x_div_64() -> None:
    cells = np.zeros((2, 130), dtype=np.uint8)
    cells[0, 0] = cells[0, 63] = cells[0, 64] = cells[1, 129] = 1
    words = pack(cells)
    assert words.dtype == np.uint64
    assert words.shape == (2, 3)
    assert words.tolist() == [[1 | 1 << 63, 1, 0], [0, 0, 1 << 1]]


@given(grids())
def test_unpack_inverts_pack(cells: Cells) -> None:
    words = pack(cells)
    assert words.shape == (cells.shape[0], words_per_row(cells.shape[1]))
    back = unpack(words, cells.shape[1])
    assert back.dtype == np.uint8
    assert back.flags.c_contiguous
    np.testing.assert_array_equal(back, cells)


@given(grids())
def test_padding_bits_are_zero(cells: Cells) -> None:
    padding = np.uint64(ALL_BITS ^ last_word_mask(cells.shape[1]))
    assert not np.any(pack(cells)[:, -1] & padding)


@given(grids())
def test_a_full_row_packs_to_the_mask(cells: Cells) -> None:
    width = cells.shape[1]
    full = pack(np.ones_like(cells))
    assert np.all(full[:, :-1] == np.uint64(ALL_BITS))
    assert np.all(full[:, -1] == np.uint64(last_word_mask(width)))


def test_unpack_ignores_padding_bits() -> None:
    words = np.array([[ALL_BITS]], dtype=np.uint64)
    np.testing.assert_array_equal(unpack(words, 5), np.ones((1, 5), dtype=np.uint8))
