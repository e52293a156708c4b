"""Stepping a pattern in its universe: a fixed torus or plane, or an infinite plane that grows.

The infinite universe is stepped in rounds as a bounded plane with a dead margin of ``k``
cells around the live cells: nothing travels faster than one cell a generation, so ``k``
generations on that plane equal ``k`` generations of the infinite universe. Between rounds
the grid is cut back to the live cells, so it follows the pattern as it grows or shrinks.

It is longer than ~300 lines because placement, the rule's fit and both steppers (async and
blocking) share one notion of a bounded grid's coordinates, which splitting would repeat.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Final, Literal, Protocol, cast, final

import numpy as np

from service.errors import LimitExceeded, Unsupported
from service.life.pattern import Cells, Pattern, bounding_box
from service.life.rules import Rule
from service.life.topology import Topology

__all__ = [
    "BlockingStepper",
    "Progress",
    "Snapshot",
    "Stepped",
    "Stepper",
    "check_placement",
    "check_rule",
    "place",
    "step_universe",
    "step_universe_blocking",
]

Progress = Callable[[int, int], None]
"""Called with (generations done, generations asked) after each round; it may raise to stop."""

Snapshot = Callable[[int, Pattern], None]
"""Called with (generation, pattern) at generation 0 and every ``every`` generations."""


class Stepper(Protocol):
    """Steps a grid whose edges wrap or see dead cells (see :mod:`service.life.fanout`)."""

    @property
    def rate_hint(self) -> float:
        """Rough cell-updates per second, to size rounds."""
        ...

    async def advance(
        self, cells: Cells, rule: Rule, generations: int, *, wrap_x: bool, wrap_y: bool
    ) -> Cells: ...


class BlockingStepper(Protocol):
    """A :class:`Stepper` called from a worker thread, that steps in that thread."""

    @property
    def rate_hint(self) -> float: ...

    def advance_blocking(
        self, cells: Cells, rule: Rule, generations: int, *, wrap_x: bool, wrap_y: bool
    ) -> Cells: ...


# A round should take about this long, so progress moves and cancellation is prompt.
_ROUND_SECONDS: Final = 0.1


@final
@dataclass(frozen=True, slots=True)
class Stepped:
    """The outcome of :func:`step_universe`."""

    pattern: Pattern
    cell_updates: int
    elapsed_s: float


def place(pattern: Pattern, topology: Topology) -> Pattern:
    """Put a pattern in its universe as Golly does; an infinite one keeps it where it is.

    A bounded grid of W x H cells spans Golly's coordinates ``-(W // 2)`` to
    ``W - 1 - W // 2`` across (and likewise down), and the returned pattern's origin is that
    top-left corner. The pattern goes where its :data:`~service.life.pattern.Anchor` says,
    as Golly's reader puts it. One exception: a grid exactly the size of the pattern's array
    (what ``--topology`` without ``--size`` makes) holds the array whole, wherever the file
    put it. Live cells that would fall outside the grid are refused (:func:`check_placement`),
    not dropped.
    """
    if not topology.bounded:
        return pattern.trimmed()
    width, height = topology.width, topology.height
    left, top = -(width // 2), -(height // 2)
    where = _where(pattern, topology)
    if where is None:
        return Pattern(np.zeros((height, width), dtype=np.uint8), left, top, anchor="given")
    if where == "whole":
        return Pattern(pattern.cells, left, top, anchor="given")
    (x, y, w, h), (column, row) = where
    grid = np.zeros((height, width), dtype=np.uint8)
    grid[row : row + h, column : column + w] = pattern.cells[y : y + h, x : x + w]
    return Pattern(grid, left, top, anchor="given")


def check_placement(pattern: Pattern, topology: Topology) -> None:
    """LimitExceeded when :func:`place` would refuse ``pattern``: the check, without the grid."""
    if topology.bounded:
        _where(pattern, topology)


_Where = tuple[tuple[int, int, int, int], tuple[int, int]]


def _where(pattern: Pattern, topology: Topology) -> _Where | Literal["whole"] | None:
    """Where the live cells go on a bounded grid: their box in the pattern's array and the
    grid's column and row of its corner; "whole" for the array as it is; None for no cells."""
    width, height = topology.width, topology.height
    left, top = -(width // 2), -(height // 2)
    box = bounding_box(pattern.cells)
    if box is None:
        return None
    if (pattern.width, pattern.height) == (width, height):
        return "whole"
    x, y, w, h = box
    if w > width or h > height:
        raise LimitExceeded(
            f"the pattern's live cells span {w}x{h}, more than the {topology.kind} of "
            f"{width}x{height}: give a larger --size"
        )
    at_x, at_y = _golly_origin(pattern, topology)
    column, row = at_x - left + x, at_y - top + y
    if column < 0 or row < 0 or column + w > width or row + h > height:
        raise LimitExceeded(
            f"the pattern's live cells span x = {at_x + x}..{at_x + x + w - 1}, "
            f"y = {at_y + y}..{at_y + y + h - 1}, outside the {topology.kind} of "
            f"{width}x{height}, which spans x = {left}..{left + width - 1}, "
            f"y = {top}..{top + height - 1}: give a larger --size or move the pattern"
        )
    return (x, y, w, h), (column, row)


def _golly_origin(pattern: Pattern, topology: Topology) -> tuple[int, int]:
    """Where Golly's reader puts ``pattern.cells[0, 0]`` on a bounded grid."""
    if pattern.anchor == "given":
        return pattern.x, pattern.y
    if pattern.width <= topology.width and pattern.height <= topology.height:
        return -(pattern.width // 2), -(pattern.height // 2)
    return -(topology.width // 2), -(topology.height // 2)


async def step_universe(
    pattern: Pattern,
    rule: Rule,
    topology: Topology,
    generations: int,
    *,
    stepper: Stepper,
    max_cells: int,
    progress: Progress | None = None,
    every: int = 0,
    snapshot: Snapshot | None = None,
) -> Stepped:
    """Step ``pattern`` (already :func:`place`-d) ``generations`` times.

    With ``snapshot`` and ``every``, rounds end on every multiple of ``every`` and the pattern
    there is handed to ``snapshot`` (for animations), and so is the last generation.
    Cancelling the calling task stops the run at the end of the strategy's current dispatch.
    """
    check_rule(rule, topology)
    plan = _plan(
        pattern, topology, generations, stepper.rate_hint, max_cells, progress, every, snapshot
    )
    step = _advanced(plan, None)
    while isinstance(step, _Step):
        wrap = step.wrap
        cells = await stepper.advance(step.cells, rule, step.generations, wrap_x=wrap, wrap_y=wrap)
        step = _advanced(plan, cells)
    return step


def step_universe_blocking(
    pattern: Pattern,
    rule: Rule,
    topology: Topology,
    generations: int,
    *,
    stepper: BlockingStepper,
    max_cells: int,
    progress: Progress | None = None,
) -> Stepped:
    """:func:`step_universe` in the calling worker thread, round for round the same.

    Made from a thread of ``anyio.to_thread.run_sync``: cancelling the task waiting for it
    stops the run at the end of a dispatch, as it does the other way.
    """
    check_rule(rule, topology)
    plan = _plan(pattern, topology, generations, stepper.rate_hint, max_cells, progress)
    step = _advanced(plan, None)
    while isinstance(step, _Step):
        wrap = step.wrap
        cells = stepper.advance_blocking(
            step.cells, rule, step.generations, wrap_x=wrap, wrap_y=wrap
        )
        step = _advanced(plan, cells)
    return step


def _advanced(plan: _Plan, stepped: Cells | None) -> _Step | Stepped:
    """The plan's next step, given the grid its last one stepped (None to start), or its end."""
    try:
        return next(plan) if stepped is None else plan.send(stepped)
    except StopIteration as end:
        return cast(Stepped, end.value)


def check_rule(rule: Rule, topology: Topology) -> None:
    """Refuse a rule the universe cannot hold: B0 fills an infinite plane at once."""
    if not topology.bounded and 0 in rule.birth:
        raise Unsupported(
            f"rule {rule} gives birth with 0 neighbours, which fills an infinite universe at "
            "once: choose the torus or plane topology"
        )


@final
@dataclass(frozen=True, slots=True)
class _Step:
    """What a plan asks of its stepper: ``cells`` stepped ``generations`` times, the edges
    wrapping or not."""

    cells: Cells
    generations: int
    wrap: bool


_Plan = Generator[_Step, Cells, Stepped]


def _plan(
    pattern: Pattern,
    topology: Topology,
    generations: int,
    rate: float,
    max_cells: int,
    progress: Progress | None = None,
    every: int = 0,
    snapshot: Snapshot | None = None,
) -> _Plan:
    """The run as a generator: it yields each grid to step and is sent the stepped grid, so
    one plan serves a stepper awaited on the event loop and one called in a worker thread."""
    started = time.perf_counter()
    rounds = _Bounded(topology) if topology.bounded else _Infinite(max_cells)
    current, done, updates = pattern, 0, 0
    if snapshot is not None:
        snapshot(0, current)
    while done < generations:
        batch = _batch(current.width * current.height, rate, generations - done)
        if snapshot is not None and every > 0:
            batch = min(batch, every - done % every)
        current, work = yield from rounds.round(current, batch)
        done += batch
        updates += work
        if snapshot is not None and every > 0 and done % every == 0:
            snapshot(done, current)
        if progress is not None:
            progress(done, generations)
    if snapshot is not None and every > 0 and done % every != 0:
        snapshot(done, current)
    return Stepped(current, updates, time.perf_counter() - started)


_Round = tuple[Pattern, int]
"""A round's outcome: the pattern after it, and the cell-updates it took."""


def _batch(cells: int, rate: float, remaining: int) -> int:
    return max(1, min(remaining, int(rate * _ROUND_SECONDS / max(cells, 1))))


@final
class _Bounded:
    __slots__ = ("wraps",)

    def __init__(self, topology: Topology) -> None:
        self.wraps = topology.wraps

    def round(self, pattern: Pattern, generations: int) -> Generator[_Step, Cells, _Round]:
        cells = yield _Step(pattern.cells, generations, self.wraps)
        return Pattern(cells, pattern.x, pattern.y, anchor="given"), cells.size * generations


@final
class _Infinite:
    __slots__ = ("max_cells",)

    def __init__(self, max_cells: int) -> None:
        self.max_cells = max_cells

    def round(self, pattern: Pattern, generations: int) -> Generator[_Step, Cells, _Round]:
        work, done = 0, 0
        while done < generations and pattern.population:
            k = self._margin(pattern, generations - done)
            cells = yield _Step(np.pad(pattern.cells, k), k, False)
            pattern = Pattern(cells, pattern.x - k, pattern.y - k, anchor="given").trimmed()
            work += cells.size * k
            done += k
        return pattern, work

    def _margin(self, pattern: Pattern, generations: int) -> int:
        """The most generations (<= asked) whose padded grid stays within max_cells."""
        w, h = pattern.width, pattern.height
        # Wider margins mean fewer rounds; a quarter of the pattern's size keeps the extra
        # area of a round near the pattern's own.
        k = min(generations, max(16, max(w, h) // 4))
        while (w + 2 * k) * (h + 2 * k) > self.max_cells:
            if k == 1:
                raise LimitExceeded(
                    f"the pattern grew to {w}x{h} cells; one more generation needs "
                    f"{(w + 2) * (h + 2)} cells, past life.max_cells = {self.max_cells}"
                )
            k = max(1, int(k / math.sqrt(2)))
        return k
