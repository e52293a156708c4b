"""The units of fan-out: a band of rows stepped k generations, or one cell stepped once.

Jobs are small picklable values that name where the grid is (an array in this process, or a
shared-memory block) and what to compute; :func:`run_band` and :func:`run_cell` are plain
module-level functions, so the same job runs on a thread, a pool, a coroutine's worker thread or
another process, and the grid itself is never copied into a message.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias, final

import numpy as np
import numpy.typing as npt

from adapters.processes import SharedSpec, attached
from service.life.bands import Band, halo_rows, with_halo
from service.life.bits import Words
from service.life.engines import WORD_STEPS
from service.life.engines.bitpacked import step_band
from service.life.engines.reference import count_neighbors, game_logic
from service.life.rules import Rule

__all__ = ["BandJob", "CellJob", "Grid", "LocalGrid", "run_band", "run_cell"]


@final
class LocalGrid:
    """An array of this process, handed to threads by reference (never pickled)."""

    __slots__ = ("array",)

    def __init__(self, array: npt.NDArray[np.generic]) -> None:
        self.array = array

    def __repr__(self) -> str:
        return f"<LocalGrid {self.array.shape}>"

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("a LocalGrid stays in its process: put the grid in shared memory")


Grid: TypeAlias = LocalGrid | SharedSpec


def _array(grid: Grid) -> npt.NDArray[np.generic]:
    return grid.array if isinstance(grid, LocalGrid) else attached(grid)


@final
@dataclass(frozen=True, slots=True)
class BandJob:
    """Step rows ``band`` of packed ``source`` by ``generations``; write them into ``target``.

    A band that is the whole grid (``whole``) wraps by itself and needs no halo rows.
    """

    source: Grid
    target: Grid
    band: Band
    width: int
    generations: int
    wrap_x: bool
    wrap_y: bool
    engine: str
    birth: int
    survival: int
    whole: bool = False


def run_band(job: BandJob) -> int:
    """Compute one band; returns the number of rows written."""
    source: Words = _array(job.source)  # type: ignore[assignment]  # attached shared memory is uint64 words, which the stubs cannot say
    target: Words = _array(job.target)  # type: ignore[assignment]  # attached shared memory is uint64 words, which the stubs cannot say
    rule = _rule(job.birth, job.survival)
    halo = 0 if job.whole else job.generations
    if job.engine == "bitpacked":
        # The hot path: straight from source to target through the kernel's own buffers.
        step_band(
            source, target, job.band, halo, job.width, job.generations, job.wrap_x, job.wrap_y, rule
        )
        return job.band.rows
    step = WORD_STEPS[job.engine]
    if job.whole:
        target[...] = step(source, job.width, job.generations, job.wrap_x, job.wrap_y, rule)
        return job.band.rows
    above, below = halo_rows(job.band, halo, source.shape[0], wrap_y=job.wrap_y)
    piece = with_halo(source, job.band, halo, wrap_y=job.wrap_y)
    shrink = (above == halo, below == halo)
    stepped = step(piece, job.width, job.generations, job.wrap_x, False, rule, shrink=shrink)
    target[job.band.start : job.band.stop] = stepped[above : above + job.band.rows]
    return job.band.rows


@final
@dataclass(frozen=True, slots=True)
class CellJob:
    """Step one cell of unpacked ``source`` (0/1 bytes) once; write it into ``target``."""

    source: Grid
    target: Grid
    y: int
    x: int
    wrap_x: bool
    wrap_y: bool
    birth: int
    survival: int


def run_cell(job: CellJob) -> int:
    """The book's per-cell step: count the neighbours, apply the rule, set the cell."""
    source = _array(job.source)
    height, width = source.shape

    def get(y: int, x: int) -> int:
        if job.wrap_y:
            y %= height
        if job.wrap_x:
            x %= width
        return int(source[y, x]) if 0 <= y < height and 0 <= x < width else 0

    state = game_logic(
        get(job.y, job.x), count_neighbors(job.y, job.x, get), _rule(job.birth, job.survival)
    )
    _array(job.target)[job.y, job.x] = state
    return state


def _rule(birth: int, survival: int) -> Rule:
    return Rule(
        frozenset(n for n in range(9) if birth >> n & 1),
        frozenset(n for n in range(9) if survival >> n & 1),
    )
