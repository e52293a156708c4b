"""A pattern as read from a file or produced by a run: live cells placed in the plane."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, TypeAlias, final

import numpy as np
import numpy.typing as npt

from service.life.rules import Rule
from service.life.topology import Topology

__all__ = ["Anchor", "BBox", "Cells", "Pattern", "bounding_box"]

Cells: TypeAlias = npt.NDArray[np.uint8]
"""A 2-D array of 0 (dead) and 1 (alive), indexed ``[row, column]``."""

BBox: TypeAlias = tuple[int, int, int, int]
"""``(x, y, width, height)`` of the live cells."""

Anchor: TypeAlias = Literal["centred", "given"]
"""Where a pattern goes on a bounded grid, as Golly's reader puts it there:

- ``centred``: the array centred on the grid's (0, 0) by its own size, when it fits, else at
  the grid's top-left corner: an RLE with a header and no ``#CXRLE Pos=`` (Golly reads no
  ``#P`` in an RLE), a ``.cells`` file (the format holds no position), a pattern made in code;
- ``given``: at its own coordinates ``x``, ``y``: an RLE's ``Pos=``, a ``.lif`` file's cells,
  a headerless RLE's (0, 0), the cells of a run.
"""


@final
@dataclass(frozen=True, slots=True, eq=False)
class Pattern:
    """Live cells with the plane coordinates of ``cells[0, 0]`` and what the file said about them.

    ``rule`` and ``topology`` are None when the file did not name them; ``generation`` comes
    from Golly's ``#CXRLE Gen=`` line; ``anchor`` says where a bounded grid puts it.
    """

    cells: Cells
    x: int = 0
    y: int = 0
    rule: Rule | None = None
    topology: Topology | None = None
    generation: int = 0
    name: str | None = None
    comments: tuple[str, ...] = field(default=())
    anchor: Anchor = "centred"

    @property
    def width(self) -> int:
        return int(self.cells.shape[1])

    @property
    def height(self) -> int:
        return int(self.cells.shape[0])

    @property
    def population(self) -> int:
        return int(np.count_nonzero(self.cells))

    def bbox(self) -> BBox | None:
        """The bounding box of the live cells in plane coordinates; None when all are dead."""
        box = bounding_box(self.cells)
        return None if box is None else (box[0] + self.x, box[1] + self.y, box[2], box[3])

    def trimmed(self) -> Pattern:
        """The same pattern cut down to its live cells (an empty pattern becomes 0x0)."""
        box = bounding_box(self.cells)
        if box is None:
            cells: Cells = np.zeros((0, 0), dtype=np.uint8)
            return _replace(self, cells, self.x, self.y)
        x, y, w, h = box
        return _replace(self, self.cells[y : y + h, x : x + w], self.x + x, self.y + y)


def bounding_box(cells: Cells) -> BBox | None:
    """``(column, row, width, height)`` of the non-zero cells of an array; None when all are 0."""
    rows = np.flatnonzero(cells.any(axis=1))
    if rows.size == 0:
        return None
    columns = np.flatnonzero(cells.any(axis=0))
    top, left = int(rows[0]), int(columns[0])
    return left, top, int(columns[-1]) - left + 1, int(rows[-1]) - top + 1


def _replace(pattern: Pattern, cells: Cells, x: int, y: int) -> Pattern:
    return Pattern(
        np.ascontiguousarray(cells),
        x,
        y,
        pattern.rule,
        pattern.topology,
        pattern.generation,
        pattern.name,
        pattern.comments,
        "given",
    )
