"""Every engine equals the reference engine, for any grid, any B/S rule and any edges."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from service.errors import InvalidInput
from service.life.bits import pack, unpack
from service.life.engines import WORD_STEPS, choose_engine, get_engine
from service.life.engines.bitpacked import BitpackedEngine
from service.life.engines.reference import ReferenceEngine
from service.life.engines.vectorised import NumpyEngine
from service.life.pattern import Cells
from service.life.rules import CONWAY, Rule

REFERENCE = ReferenceEngine()
NUMPY = NumpyEngine()
BITPACKED = BitpackedEngine()
WIDTHS = [1, 2, 3, 63, 64, 65, 127, 128, 129, 150]
rules = st.builds(Rule, st.frozensets(st.integers(0, 8)), st.frozensets(st.integers(0, 8)))


@st.composite
def grids(draw: st.DrawFn) -> Cells:
    """A random 0/1 grid; numpy fills it from a drawn seed, which keeps big grids cheap.

    Sizes are sampled uniformly: st.integers leans towards tiny grids, which say little.
    """
    height = draw(st.sampled_from(range(1, 25)))
    width = draw(st.one_of(st.sampled_from(WIDTHS), st.sampled_from(range(1, 151))))
    density = draw(st.sampled_from([0.0, 0.1, 0.3, 0.5, 0.9, 1.0]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    cells: Cells = (rng.random((height, width)) < density).astype(np.uint8)
    return cells


def conway_example(height: int, width: int, density: float) -> Cells:
    cells: Cells = (np.random.default_rng(7).random((height, width)) < density).astype(np.uint8)
    return cells


@settings(max_examples=100, deadline=None)
@given(
    cells=grids(),
    rule=rules,
    generations=st.sampled_from(range(5)),
    wrap_x=st.booleans(),
    wrap_y=st.booleans(),
)
@example(conway_example(24, 64, 0.4), CONWAY, 4, True, True)
@example(conway_example(9, 128, 0.4), CONWAY, 4, True, False)
@example(conway_example(1, 1, 1.0), Rule(frozenset({0}), frozenset({8})), 3, True, True)
@example(np.ones((5, 64), np.uint8), Rule(frozenset(), frozenset({8})), 2, True, True)
@example(np.zeros((3, 70), np.uint8), Rule(frozenset({0}), frozenset()), 3, False, False)
def test_fast_engines_equal_the_reference(
    cells: Cells,
    rule: Rule,
    generations: int,
    wrap_x: bool,
    wrap_y: bool,
) -> None:
    expected = REFERENCE.advance(cells, rule, generations, wrap_x=wrap_x, wrap_y=wrap_y)
    for engine in (NUMPY, BITPACKED):
        got = engine.advance(cells, rule, generations, wrap_x=wrap_x, wrap_y=wrap_y)
        assert got.dtype == np.uint8
        np.testing.assert_array_equal(got, expected, err_msg=f"{engine.name} differs")


@settings(max_examples=40, deadline=None)
@given(
    cells=grids(),
    rule=rules,
    generations=st.sampled_from(range(4)),
    wrap_x=st.booleans(),
    wrap_y=st.booleans(),
)
def test_every_word_step_equals_its_engine(
    cells: Cells, rule: Rule, generations: int, wrap_x: bool, wrap_y: bool
) -> None:
    # The fan-out strategies hand packed rows to WORD_STEPS: each must step like the engine.
    width = cells.shape[1]
    expected = REFERENCE.advance(cells, rule, generations, wrap_x=wrap_x, wrap_y=wrap_y)
    assert set(WORD_STEPS) == {"reference", "numpy", "bitpacked"}
    for name, step in WORD_STEPS.items():
        got = unpack(step(pack(cells), width, generations, wrap_x, wrap_y, rule), width)
        np.testing.assert_array_equal(got, expected, err_msg=f"{name} differs")


@pytest.mark.parametrize("engine", [REFERENCE, NUMPY, BITPACKED])
def test_engines_leave_their_input_alone(engine: Any) -> None:
    cells = conway_example(20, 70, 0.5)
    before = cells.copy()
    after = engine.advance(cells, CONWAY, 3, wrap_x=True, wrap_y=True)
    np.testing.assert_array_equal(cells, before)
    assert after.shape == cells.shape
    assert after.flags.c_contiguous


def test_bitpacked_is_one_engine_on_one_thread() -> None:
    # The fan-out strategies bring the threads now: the engine itself has no workers.
    assert repr(BitpackedEngine()) == "<BitpackedEngine>"
    assert not hasattr(BitpackedEngine(), "workers")


@pytest.mark.parametrize(
    ("name", "kind"),
    [("reference", ReferenceEngine), ("numpy", NumpyEngine), ("bitpacked", BitpackedEngine)],
)
def test_get_engine_by_name(name: str, kind: type) -> None:
    engine = get_engine(name)
    assert isinstance(engine, kind)
    assert engine.name == name
    assert engine.rate_hint > 0


@pytest.mark.parametrize("name", ["auto", "golly", ""])
def test_get_engine_refuses_other_names(name: str) -> None:
    with pytest.raises(InvalidInput, match=f"unknown engine {name!r}: choose one of auto, "):
        get_engine(name)


def test_choose_engine_auto_picks_by_the_size_of_the_work() -> None:
    assert choose_engine("auto", cells=1000, generations=1000) == "numpy"
    assert choose_engine("auto", cells=10_000_000, generations=1000) == "bitpacked"
    assert choose_engine("reference", cells=10**9, generations=10**9) == "reference"
    assert choose_engine("numpy", cells=10**9, generations=10**9) == "numpy"


def test_choose_engine_auto_takes_the_reference_for_per_cell_chunks() -> None:
    assert choose_engine("auto", cells=10_000_000, generations=1000, per_cell=True) == "reference"
    # An explicit engine is kept: the fan-out refuses a non-reference one with cell chunks.
    assert choose_engine("numpy", cells=100, generations=1, per_cell=True) == "numpy"


@pytest.mark.parametrize("name", ["golly", ""])
def test_choose_engine_refuses_other_names(name: str) -> None:
    with pytest.raises(InvalidInput, match=f"unknown engine {name!r}: choose one of auto, "):
        choose_engine(name, cells=1, generations=1)
