"""Read and write plaintext (``.cells``) patterns as LifeWiki writes them.

``!`` lines are comments and the first ``!Name: X`` names the pattern. Every other line is a
row: ``.`` dead, ``O`` (or ``*``) alive. Short rows are padded with dead cells, a blank line
is a row of dead cells (as Golly reads it), blank lines after the last row are dropped, and
trailing spaces are ignored. The writer keeps every row at full width, as LifeWiki does, so a
round trip keeps the array's size. The format has no place for a rule, a position or a
generation: the writer leaves them out and the reader leaves them at their defaults.
"""

from __future__ import annotations

import re
from typing import Final

import numpy as np

from service.errors import PatternError
from service.life._text import DEFAULT_MAX_CELLS, check_name, check_size, comment_lines, split_lines
from service.life.pattern import Cells, Pattern

__all__ = ["read_plaintext", "write_plaintext"]

_NAME: Final = "name:"
_NOT_A_CELL: Final = re.compile(r"[^.O*]")


def read_plaintext(
    text: str, *, source: str = "<input>", max_cells: int = DEFAULT_MAX_CELLS
) -> Pattern:
    """Parse ``.cells`` text; errors are ``PatternError`` with ``source``, line and column."""
    name: str | None = None
    comments: list[str] = []
    rows: list[tuple[int, str]] = []
    for number, line in enumerate(split_lines(text), start=1):
        if not line.startswith("!"):
            rows.append((number, line.rstrip()))
        elif name is None and line[1:].lower().startswith(_NAME):
            name = line[1 + len(_NAME) :].strip() or None
        else:
            comments.append(line[1:])
    while rows and not rows[-1][1]:
        rows.pop()
    return Pattern(_cells(rows, source, max_cells), name=name, comments=tuple(comments))


def _cells(rows: list[tuple[int, str]], source: str, max_cells: int) -> Cells:
    for number, row in rows:
        if (bad := _NOT_A_CELL.search(row)) is not None:
            raise PatternError(
                f"unexpected {bad.group()!r} in a plaintext row: use . (dead) and O or * (alive)",
                source=source,
                line=number,
                column=bad.start() + 1,
            )
    width = max((len(row) for _, row in rows), default=0)
    check_size(width, len(rows), max_cells=max_cells, source=source)
    cells = np.zeros((len(rows), width), dtype=np.uint8)
    for index, (_, row) in enumerate(rows):
        # Rows are ASCII by now, so their bytes line up with their columns.
        glyphs = np.frombuffer(row.encode("ascii"), dtype=np.uint8)
        cells[index, : glyphs.size] = glyphs != ord(".")
    return cells


def write_plaintext(pattern: Pattern) -> str:
    """The pattern as ``!Name:``, ``!`` comments and full-width rows of ``.`` and ``O``."""
    check_name(pattern.name)
    lines = [] if pattern.name is None else [f"!Name: {pattern.name}"]
    lines += [f"!{comment}" for comment in comment_lines(pattern.comments)]
    glyphs = np.where(pattern.cells != 0, ord("O"), ord(".")).astype(np.uint8)
    lines += [row.tobytes().decode("ascii") for row in glyphs]
    return "".join(f"{line}\n" for line in lines)
