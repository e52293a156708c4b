"""The reference engine: one cell at a time, in plain Python, as the book writes it.

Slow on purpose: every other engine and strategy is tested against it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final, final

import numpy as np

from service.life.bits import Words, pack, unpack
from service.life.pattern import Cells
from service.life.rules import Rule

__all__ = [
    "ALIVE",
    "EMPTY",
    "Grid",
    "ReferenceEngine",
    "count_neighbors",
    "game_logic",
    "step_cell",
]

ALIVE: Final = 1
EMPTY: Final = 0

Getter = Callable[[int, int], int]
Setter = Callable[[int, int, int], None]


@final
class Grid:
    """Rows of cell states; reads past an edge wrap around or see dead cells."""

    __slots__ = ("height", "rows", "width", "wrap_x", "wrap_y")

    def __init__(self, height: int, width: int, *, wrap_x: bool, wrap_y: bool) -> None:
        self.height = height
        self.width = width
        self.wrap_x = wrap_x
        self.wrap_y = wrap_y
        self.rows = [[EMPTY] * width for _ in range(height)]

    def __repr__(self) -> str:
        return f"<Grid {self.width}x{self.height}>"

    def get(self, y: int, x: int) -> int:
        if self.wrap_y:
            y %= self.height
        if self.wrap_x:
            x %= self.width
        if 0 <= y < self.height and 0 <= x < self.width:
            return self.rows[y][x]
        return EMPTY

    def set(self, y: int, x: int, state: int) -> None:
        self.rows[y][x] = state


def count_neighbors(y: int, x: int, get: Getter) -> int:
    """How many of the eight cells around (y, x) are alive."""
    around = ((-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1))
    return sum(get(y + dy, x + dx) == ALIVE for dy, dx in around)


def game_logic(state: int, neighbors: int, rule: Rule) -> int:
    """The cell's next state under ``rule``."""
    return ALIVE if rule.next_state(state == ALIVE, neighbors) else EMPTY


def step_cell(y: int, x: int, get: Getter, set_: Setter, rule: Rule) -> None:
    """Compute one cell of the next generation from the current one."""
    set_(y, x, game_logic(get(y, x), count_neighbors(y, x, get), rule))


def simulate(grid: Grid, rule: Rule) -> Grid:
    """One generation, cell by cell."""
    following = Grid(grid.height, grid.width, wrap_x=grid.wrap_x, wrap_y=grid.wrap_y)
    for y in range(grid.height):
        for x in range(grid.width):
            step_cell(y, x, grid.get, following.set, rule)
    return following


def to_grid(cells: Cells, *, wrap_x: bool, wrap_y: bool) -> Grid:
    height, width = cells.shape
    grid = Grid(height, width, wrap_x=wrap_x, wrap_y=wrap_y)
    grid.rows = [[int(v) for v in row] for row in cells.tolist()]
    return grid


def from_grid(grid: Grid) -> Cells:
    return np.array(grid.rows, dtype=np.uint8).reshape(grid.height, grid.width)


@final
class ReferenceEngine:
    """Per-cell pure Python: the oracle."""

    name: Final = "reference"
    rate_hint: Final = 1e6

    def advance(
        self, cells: Cells, rule: Rule, generations: int, *, wrap_x: bool, wrap_y: bool
    ) -> Cells:
        grid = to_grid(cells, wrap_x=wrap_x, wrap_y=wrap_y)
        for _ in range(generations):
            grid = simulate(grid, rule)
        return from_grid(grid)


def step_words(
    words: Words,
    width: int,
    generations: int,
    wrap_x: bool,
    wrap_y: bool,
    rule: Rule,
    *,
    shrink: tuple[bool, bool] = (False, False),
) -> Words:
    """The reference engine on packed rows, so it can step bands like the others.

    ``shrink`` is ignored: the oracle steps every row it is given.
    """
    cells = ReferenceEngine().advance(
        unpack(words, width), rule, generations, wrap_x=wrap_x, wrap_y=wrap_y
    )
    return pack(cells)
