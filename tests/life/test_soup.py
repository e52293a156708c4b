"""Random soups: the recipe forms, the same recipe giving the same cells, and refusals."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.errors import InvalidInput, LimitExceeded
from service.life.soup import Soup, parse_soup


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10x20:0.3:7", Soup(10, 20, 0.3, 7)),
        ("10x20:30%:7", Soup(10, 20, 0.3, 7)),
        ("10X20:30%:7", Soup(10, 20, 0.3, 7)),
        (" 10x20:0:0 ", Soup(10, 20, 0.0, 0)),
        ("10x20:100%:1", Soup(10, 20, 1.0, 1)),
        ("10x20::7", Soup(10, 20, 0.5, 7)),
        ("16:0.25:3", Soup(16, 16, 0.25, 3)),
    ],
)
def test_parse_soup(text: str, expected: Soup) -> None:
    assert parse_soup(text) == expected


@pytest.mark.parametrize(("text", "density"), [("10x20", 0.5), ("10x20:0.3", 0.3)])
def test_without_a_seed_one_is_drawn(text: str, density: float) -> None:
    soup = parse_soup(text)
    assert (soup.width, soup.height, soup.density) == (10, 20, density)
    assert 0 <= soup.seed < 2**32
    assert len({parse_soup(text).seed for _ in range(8)}) > 1


@given(st.integers(1, 5000), st.integers(1, 5000), st.floats(0, 1), st.integers(0, 2**64))
def test_str_parses_back(width: int, height: int, density: float, seed: int) -> None:
    soup = Soup(width, height, round(density, 4), seed)
    assert parse_soup(str(soup)) == soup


def test_str_is_the_recipe() -> None:
    assert str(Soup(64, 48, 0.35, 42)) == "64x48:0.35:42"


def test_same_recipe_same_cells() -> None:
    first = parse_soup("40x30:0.4:99").pattern(max_cells=10_000)
    again = parse_soup("40x30:40%:99").pattern(max_cells=10_000)
    other = parse_soup("40x30:0.4:100").pattern(max_cells=10_000)
    np.testing.assert_array_equal(first.cells, again.cells)
    assert not np.array_equal(first.cells, other.cells)


def test_cells_have_the_shape_and_density_asked() -> None:
    pattern = Soup(300, 200, 0.3, 5).pattern(max_cells=60_000)
    assert pattern.cells.shape == (200, 300)
    assert pattern.cells.dtype == np.uint8
    assert set(np.unique(pattern.cells).tolist()) == {0, 1}
    assert abs(pattern.population / 60_000 - 0.3) < 0.01
    assert (pattern.x, pattern.y, pattern.rule, pattern.topology) == (0, 0, None, None)
    assert pattern.comments == ("random soup 300x200:0.3:5",)


def test_density_zero_and_one() -> None:
    assert Soup(9, 7, 0.0, 1).pattern(max_cells=63).population == 0
    assert Soup(9, 7, 1.0, 1).pattern(max_cells=63).population == 63


def test_max_cells() -> None:
    assert Soup(100, 100).pattern(max_cells=10_000).cells.size == 10_000
    with pytest.raises(
        LimitExceeded, match=r"a 100x101 soup has 10100 cells, past life\.max_cells = 10000"
    ):
        Soup(100, 101).pattern(max_cells=10_000)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        # The size's own complaint (from parse_size), inside the recipe's.
        ("", "size '' is not WxH"),
        ("10y20", "size '10y20' is not WxH"),
        ("x20", "size 'x20' is not WxH"),
        ("0x20", "size '0x20' must be at least 1x1"),
        ("-1x20", "size '-1x20' is not WxH"),
        ("10x20:1.5", "density '1.5' must be 0-1 or 0%-100%"),
        ("10x20:-0.1", "density '-0.1' must be 0-1 or 0%-100%"),
        ("10x20:150%", "density '150%' must be 0-1 or 0%-100%"),
        ("10x20:dense", "density 'dense' must be 0-1 or 0%-100%"),
        ("10x20:nan", "density 'nan' must be 0-1 or 0%-100%"),
        ("10x20:0.3:-1", "seed '-1' must be a whole number >= 0"),
        ("10x20:0.3:1.5", "seed '1.5' must be a whole number >= 0"),
        ("10x20:0.3:", "seed '' must be a whole number >= 0"),
        ("10x20:0.3:1:2", "write WxH[:DENSITY[:SEED]]"),
    ],
)
def test_bad_recipes_are_refused(text: str, reason: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_soup(text)
    message = str(caught.value)
    assert message.startswith(f"random soup {text!r}: ")
    assert reason in message
