"""Bands with halo rows: the rows a band is stepped with, and how deep a halo to give it.

That any split and any depth step exactly like the whole grid is tested where the bands are
stepped: :mod:`tests.life.test_fanout` and :mod:`tests.life.test_chunks`.
"""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest

from service.life.bands import Band, halo_depth, halo_rows, with_halo


def test_a_band_counts_its_rows() -> None:
    assert Band(3, 7).rows == 4
    assert Band(0, 0).rows == 0


def test_a_band_is_a_frozen_value() -> None:
    assert Band(1, 2) == Band(1, 2)
    assert len({Band(1, 2), Band(1, 2), Band(2, 3)}) == 2
    with pytest.raises(dataclasses.FrozenInstanceError):
        Band(1, 2).start = 0  # type: ignore[misc]  # frozen on purpose: the assignment must fail


@pytest.mark.parametrize("rows", [1, 8, 512, 4096])
@pytest.mark.parametrize("generations", [1, 3, 10**6])
def test_halo_depth_is_within_the_generations_asked(rows: int, generations: int) -> None:
    assert 1 <= halo_depth(rows, generations) <= generations


def test_halo_depth_grows_with_the_band_but_slower() -> None:
    # Halo work grows with the depth, meetings shrink with it: the balance is a square root.
    depths = [halo_depth(rows, 10**6) for rows in (16, 64, 256, 1024, 4096)]
    assert depths == sorted(depths)
    assert depths[-1] > depths[0]
    for smaller, larger in itertools.pairwise(depths):
        assert larger <= 2 * smaller + 1  # four times the rows, about twice the depth


def test_halo_depth_is_at_least_one() -> None:
    assert halo_depth(1, 0) == 1
    assert halo_depth(0, 10) == 1


def test_with_halo_wraps_on_a_torus_and_stops_at_a_planes_edges() -> None:
    words = np.arange(1, 6, dtype=np.uint64).reshape(5, 1)
    assert with_halo(words, Band(0, 2), 2, wrap_y=True).ravel().tolist() == [4, 5, 1, 2, 3, 4]
    assert halo_rows(Band(0, 2), 2, 10, wrap_y=True)[0] == 2
    assert with_halo(words, Band(0, 2), 2, wrap_y=False).ravel().tolist() == [1, 2, 3, 4]
    assert halo_rows(Band(0, 2), 2, 10, wrap_y=False)[0] == 0
    assert with_halo(words, Band(3, 5), 2, wrap_y=False).ravel().tolist() == [2, 3, 4, 5]
    assert halo_rows(Band(3, 5), 2, words.shape[0], wrap_y=False)[0] == 2


def test_a_halo_deeper_than_the_torus_wraps_round_it_again() -> None:
    words = np.arange(1, 4, dtype=np.uint64).reshape(3, 1)
    piece = with_halo(words, Band(1, 2), 4, wrap_y=True)
    assert piece.ravel().tolist() == [1, 2, 3, 1, 2, 3, 1, 2, 3]
    assert halo_rows(Band(1, 2), 4, words.shape[0], wrap_y=True)[0] == 4
    assert piece[4, 0] == words[1, 0]


def test_a_halo_deeper_than_the_plane_stops_at_both_edges() -> None:
    words = np.arange(1, 4, dtype=np.uint64).reshape(3, 1)
    assert with_halo(words, Band(1, 2), 4, wrap_y=False).ravel().tolist() == [1, 2, 3]
    assert halo_rows(Band(1, 2), 4, words.shape[0], wrap_y=False)[0] == 1
