"""Fan-out of a Life step: split the grid into chunks, hand them to a strategy, put them back.

Chunks are bands of rows (any engine) or single cells (the book's setting, reference engine
only). Bands carry halo rows, so one dispatch steps ``k`` generations and the workers meet
every ``k`` generations, not every one (see :mod:`service.life.bands`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Final, cast, final

import numpy as np
import numpy.typing as npt
from anyio import to_thread

from adapters.processes import SharedArray
from service.errors import InvalidInput, LimitExceeded
from service.life.bands import Band, halo_depth
from service.life.bits import Words, pack, unpack
from service.life.chunks import BandJob, CellJob, Grid, LocalGrid, run_band, run_cell
from service.life.engines import get_engine
from service.life.pattern import Cells
from service.life.rules import Rule
from service.life.strategies import BlockingMap, Strategy, check_cancelled

__all__ = ["CELL_CHUNK_LIMIT", "Chunking", "FanoutStepper"]

CELL_CHUNK_LIMIT: Final = 65_536
"""Per-cell chunks are the book's lesson for small grids; past this many cells, use bands."""


@final
@dataclass(frozen=True, slots=True)
class Chunking:
    """Single cells, or bands of ``rows`` rows (None: one band per worker)."""

    cells: bool = False
    rows: int | None = None

    def __post_init__(self) -> None:
        if self.cells and self.rows is not None:
            raise InvalidInput("choose --chunk cell or --chunk-rows N, not both")
        if self.rows is not None and self.rows < 1:
            raise InvalidInput(f"--chunk-rows {self.rows}: must be at least 1")

    def bands(self, height: int, workers: int) -> list[Band]:
        rows = self.rows or max(1, math.ceil(height / max(1, workers)))
        return [Band(start, min(start + rows, height)) for start in range(0, height, rows)]


@final
class FanoutStepper:
    """One engine, one strategy and a chunking, stepping grids for the universe driver."""

    __slots__ = ("chunking", "chunks", "name", "strategy")

    def __init__(self, engine: str, strategy: Strategy, chunking: Chunking) -> None:
        if chunking.cells and engine != "reference":
            raise InvalidInput(
                f"--chunk cell runs the book's per-cell code: it needs --engine reference, "
                f"not {engine!r}"
            )
        self.name = engine
        self.strategy = strategy
        self.chunking = chunking
        self.chunks = 0

    def __repr__(self) -> str:
        return f"<FanoutStepper {self.name} {self.strategy.name} chunks={self.chunks}>"

    @property
    def rate_hint(self) -> float:
        one_core = get_engine(self.name).rate_hint
        return one_core * (1 if self.chunking.cells else self.strategy.workers)

    async def advance(
        self, cells: Cells, rule: Rule, generations: int, *, wrap_x: bool, wrap_y: bool
    ) -> Cells:
        if generations == 0 or cells.size == 0:
            return cells.copy()
        if self.chunking.cells:
            return await self._by_cell(cells, rule, generations, wrap_x, wrap_y)
        run = self._band_run(cells, rule, generations, wrap_x, wrap_y)
        blocking = self.strategy.blocking()
        with self._buffers(pack(cells), owned=True) as (source, target, read):
            if blocking is not None:
                # Every round on one worker thread: a meeting costs a hand-off between threads
                # (~50 us here) instead of two trips through the event loop (~200 us).
                source = await to_thread.run_sync(run.every_round, blocking, source, target)
            else:
                for gens in run.rounds:
                    await self.strategy.map(run_band, run.dispatch(source, target, gens))
                    source, target = target, source
            return unpack(cast(Words, read(source)), run.width)

    def advance_blocking(
        self, cells: Cells, rule: Rule, generations: int, *, wrap_x: bool, wrap_y: bool
    ) -> Cells:
        """:meth:`advance` in the calling worker thread (one of ``anyio.to_thread``'s), for a
        strategy with a blocking map and chunks that are bands."""
        blocking = self.strategy.blocking()
        if blocking is None or self.chunking.cells:
            raise TypeError(
                f"the {self.strategy.name} strategy with {self.chunking} cannot step from a "
                "worker thread: await advance() instead"
            )
        if generations == 0 or cells.size == 0:
            return cells.copy()
        run = self._band_run(cells, rule, generations, wrap_x, wrap_y)
        with self._buffers(pack(cells), owned=True) as (source, target, read):
            source = run.every_round(blocking, source, target)
            return unpack(cast(Words, read(source)), run.width)

    def _band_run(
        self, cells: Cells, rule: Rule, generations: int, wrap_x: bool, wrap_y: bool
    ) -> _BandRun:
        height, width = cells.shape
        bands = self.chunking.bands(height, self.strategy.workers)
        self.chunks = max(self.chunks, len(bands))
        # A single band is the whole grid: it wraps by itself and needs no halo or meetings.
        depth = (
            generations if len(bands) == 1 else halo_depth(min(b.rows for b in bands), generations)
        )
        # As many meetings as that depth needs, with the generations shared out evenly: a short
        # last round would pay a whole meeting for a few generations.
        depth = -(-generations // -(-generations // depth))
        rounds = [depth] * (generations // depth)
        if generations % depth:
            rounds.append(generations % depth)
        return _BandRun(bands, rounds, width, wrap_x, wrap_y, self.name, rule)

    async def _by_cell(
        self, cells: Cells, rule: Rule, generations: int, wrap_x: bool, wrap_y: bool
    ) -> Cells:
        height, width = cells.shape
        if cells.size > CELL_CHUNK_LIMIT:
            raise LimitExceeded(
                f"--chunk cell on {width}x{height} = {cells.size} cells: per-cell chunks are "
                f"for grids up to {CELL_CHUNK_LIMIT} cells; use --chunk-rows"
            )
        self.chunks = max(self.chunks, cells.size)
        with self._buffers(cells, owned=False) as (source, target, read):
            for _ in range(generations):
                jobs = [
                    CellJob(
                        source, target, y, x, wrap_x, wrap_y, rule.birth_mask, rule.survival_mask
                    )
                    for y in range(height)
                    for x in range(width)
                ]
                await self.strategy.map(run_cell, jobs)
                source, target = target, source
            return np.ascontiguousarray(read(source), dtype=np.uint8)

    @contextmanager
    def _buffers(
        self, initial: npt.NDArray[np.generic], *, owned: bool
    ) -> Iterator[tuple[Grid, Grid, Callable[[Grid], npt.NDArray[np.generic]]]]:
        """Two grids to step between: local arrays, or shared memory for other processes.

        ``owned``: ``initial`` is this stepper's own (freshly packed) and may be stepped in place.
        What ``read`` returns belongs to the caller: the stepper keeps no reference to it.
        """
        if not self.strategy.shared_memory:
            first = initial if owned else initial.copy()
            yield LocalGrid(first), LocalGrid(np.empty_like(initial)), _read_local
            return
        with (
            SharedArray.create(initial.shape, initial.dtype) as one,
            SharedArray.create(initial.shape, initial.dtype) as two,
        ):
            one.array[...] = initial
            blocks = {one.spec: one, two.spec: two}
            yield one.spec, two.spec, lambda grid: blocks[grid].array.copy()  # type: ignore[index]  # the specs are the keys: numpy's stubs type them loosely


@final
@dataclass(frozen=True, slots=True)
class _BandRun:
    """One ``advance`` by bands: the bands, the generations of each round between meetings,
    and the dispatch of a round."""

    bands: list[Band]
    rounds: list[int]
    width: int
    wrap_x: bool
    wrap_y: bool
    engine: str
    rule: Rule

    def dispatch(self, source: Grid, target: Grid, generations: int) -> list[BandJob]:
        single = len(self.bands) == 1
        birth, survival = self.rule.birth_mask, self.rule.survival_mask
        return [
            BandJob(
                source,
                target,
                band,
                self.width,
                generations,
                self.wrap_x,
                self.wrap_y,
                self.engine,
                birth,
                survival,
                single,
            )
            for band in self.bands
        ]

    def every_round(self, blocking: BlockingMap, source: Grid, target: Grid) -> Grid:
        """Every round through ``blocking``, from a worker thread (or a worker process); the
        grid holding the end."""
        for generations in self.rounds:
            check_cancelled()
            blocking(run_band, self.dispatch(source, target, generations))
            source, target = target, source
        return source


def _read_local(grid: Grid) -> npt.NDArray[np.generic]:
    assert isinstance(grid, LocalGrid)
    return grid.array
