"""Chunk jobs: a band stepped k generations, or one cell stepped once, from any kind of grid."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.processes import SharedArray
from service.life.bands import Band
from service.life.bits import pack, unpack
from service.life.chunks import BandJob, CellJob, LocalGrid, run_band, run_cell
from service.life.engines.reference import ReferenceEngine
from service.life.pattern import Cells
from service.life.rules import CONWAY, Rule

ENGINES = ["reference", "numpy", "bitpacked"]
HIGHLIFE = Rule(frozenset({3, 6}), frozenset({2, 3}))
rules = st.builds(Rule, st.frozensets(st.integers(0, 8)), st.frozensets(st.integers(0, 8)))


def soup(height: int, width: int, seed: int, density: float = 0.4) -> Cells:
    cells: Cells = (np.random.default_rng(seed).random((height, width)) < density).astype(np.uint8)
    return cells


def band_job(
    cells: Cells,
    band: Band,
    generations: int,
    *,
    engine: str,
    rule: Rule = CONWAY,
    wrap_x: bool,
    wrap_y: bool,
    whole: bool = False,
) -> tuple[BandJob, LocalGrid]:
    """A job stepping ``band`` of ``cells``, and its target (filled with ones, to see the rest)."""
    target = LocalGrid(np.full_like(pack(cells), np.uint64(2**64 - 1)))
    job = BandJob(
        LocalGrid(pack(cells)),
        target,
        band,
        cells.shape[1],
        generations,
        wrap_x,
        wrap_y,
        engine,
        rule.birth_mask,
        rule.survival_mask,
        whole,
    )
    return job, target


@st.composite
def bands(draw: st.DrawFn, height: int) -> Band:
    start = draw(st.integers(0, height - 1))
    return Band(start, draw(st.integers(start + 1, height)))


@pytest.mark.parametrize("engine", ENGINES)
@settings(max_examples=40, deadline=None)
@given(
    data=st.data(),
    height=st.integers(1, 24),
    width=st.sampled_from([1, 3, 30, 64, 70]),
    seed=st.integers(0, 2**16),
    rule=rules,
    generations=st.integers(1, 30),
    wrap_x=st.booleans(),
    wrap_y=st.booleans(),
)
def test_a_band_at_any_depth_equals_the_reference_rows(
    engine: str,
    data: st.DataObject,
    height: int,
    width: int,
    seed: int,
    rule: Rule,
    generations: int,
    wrap_x: bool,
    wrap_y: bool,
) -> None:
    # The halo is as deep as the generations stepped: deeper than the band, or the grid, too.
    cells = soup(height, width, seed)
    band = data.draw(bands(height), label="band")
    job, target = band_job(
        cells, band, generations, engine=engine, rule=rule, wrap_x=wrap_x, wrap_y=wrap_y
    )
    assert run_band(job) == band.rows
    expected = ReferenceEngine().advance(cells, rule, generations, wrap_x=wrap_x, wrap_y=wrap_y)
    got = unpack(target.array, width)  # type: ignore[arg-type]  # uint64 words of shared memory, which the stubs cannot say
    np.testing.assert_array_equal(got[band.start : band.stop], expected[band.start : band.stop])
    outside = np.delete(target.array, np.s_[band.start : band.stop], axis=0)
    assert (outside == np.uint64(2**64 - 1)).all(), "rows outside the band were written"


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("wrap", [True, False], ids=["torus", "plane"])
def test_a_whole_band_wraps_by_itself(engine: str, wrap: bool) -> None:
    cells = soup(9, 70, seed=1)
    job, target = band_job(
        cells, Band(0, 9), 6, engine=engine, rule=HIGHLIFE, wrap_x=wrap, wrap_y=wrap, whole=True
    )
    assert run_band(job) == 9
    expected = ReferenceEngine().advance(cells, HIGHLIFE, 6, wrap_x=wrap, wrap_y=wrap)
    np.testing.assert_array_equal(unpack(target.array, 70), expected)  # type: ignore[arg-type]  # uint64 words of shared memory, which the stubs cannot say


@settings(max_examples=40, deadline=None)
@given(
    height=st.integers(1, 7),
    width=st.integers(1, 7),
    seed=st.integers(0, 2**16),
    rule=rules,
    wrap_x=st.booleans(),
    wrap_y=st.booleans(),
)
def test_every_cell_job_equals_the_reference_step(
    height: int, width: int, seed: int, rule: Rule, wrap_x: bool, wrap_y: bool
) -> None:
    cells = soup(height, width, seed, density=0.5)
    source, target = LocalGrid(cells), LocalGrid(np.full_like(cells, 7))
    for y in range(height):
        for x in range(width):
            job = CellJob(source, target, y, x, wrap_x, wrap_y, rule.birth_mask, rule.survival_mask)
            assert run_cell(job) == target.array[y, x]
    expected = ReferenceEngine().advance(cells, rule, 1, wrap_x=wrap_x, wrap_y=wrap_y)
    np.testing.assert_array_equal(target.array, expected)
    np.testing.assert_array_equal(source.array, cells)


def test_a_local_grid_stays_in_its_process() -> None:
    grid = LocalGrid(np.zeros((2, 3), np.uint8))
    assert repr(grid) == "<LocalGrid (2, 3)>"
    with pytest.raises(TypeError, match="put the grid in shared memory"):
        pickle.dumps(grid)


def test_jobs_on_shared_memory_pickle_small_and_compute_the_same() -> None:
    cells = soup(12, 70, seed=2)
    words = pack(cells)
    with (
        SharedArray.create(words.shape, words.dtype) as source,
        SharedArray.create(words.shape, words.dtype) as target,
    ):
        source.array[...] = words
        job = BandJob(
            source.spec, target.spec, Band(3, 8), 70, 5, True, True, "numpy", 8, 12, False
        )
        message = pickle.dumps(job)
        assert len(message) < 1000  # a description, not the grid
        assert pickle.loads(message) == job
        assert run_band(pickle.loads(message)) == 5
        got = unpack(target.array.copy(), 70)
    expected = ReferenceEngine().advance(cells, CONWAY, 5, wrap_x=True, wrap_y=True)
    np.testing.assert_array_equal(got[3:8], expected[3:8])


def test_cell_jobs_on_shared_memory() -> None:
    cells = soup(4, 5, seed=3, density=0.5)
    with (
        SharedArray.create(cells.shape, cells.dtype) as source,
        SharedArray.create(cells.shape, cells.dtype) as target,
    ):
        source.array[...] = cells
        for y in range(4):
            for x in range(5):
                job = CellJob(source.spec, target.spec, y, x, False, False, 8, 12)
                run_cell(pickle.loads(pickle.dumps(job)))
        got = target.array.copy()
    expected = ReferenceEngine().advance(cells, CONWAY, 1, wrap_x=False, wrap_y=False)
    np.testing.assert_array_equal(got, expected)
