"""Read Life 1.05 and Life 1.06 (``.lif``) patterns; this service does not write them.

Life 1.05 opens with ``#Life 1.05``, then ``#D`` descriptions (``#C`` is read the same way),
``#N`` for Conway's rule or ``#R 23/3`` for another (survival/birth, as ``parse_rule``
reads it), and blocks of rows of ``.`` (dead) and ``*`` (alive), each started by ``#P x y``,
the plane coordinates of the block's top-left cell. Rows before any ``#P`` start at (0, 0).
Life 1.06 opens with ``#Life 1.06``, then lists one live cell a line as ``x y``.

Either way the pattern comes back cut to its live cells: ``cells`` spans their bounding box
and ``x``, ``y`` is its top-left corner; with no live cells it is 0x0 at (0, 0). Other
``#`` lines are kept as comments, as Golly ignores them rather than failing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final, Literal

import numpy as np

from service.errors import PatternError, RuleError
from service.life._text import DEFAULT_MAX_CELLS, check_size, split_lines, strip_tag, tag_text
from service.life.pattern import Pattern
from service.life.rules import CONWAY, Rule, parse_rule
from service.life.topology import Topology

__all__ = ["read_lif"]

_Version = Literal["1.05", "1.06"]
_VERSIONS: Final[dict[str, _Version]] = {"#Life 1.05": "1.05", "#Life 1.06": "1.06"}
_PAIR: Final = re.compile(r"\s*(-?[0-9]+)\s+(-?[0-9]+)\s*")
_NOT_A_CELL: Final = re.compile(r"[^.*]")


def read_lif(text: str, *, source: str = "<input>", max_cells: int = DEFAULT_MAX_CELLS) -> Pattern:
    """Parse Life 1.05 or 1.06 text, told apart by its first line."""
    lines = split_lines(text)
    start = next((index for index, line in enumerate(lines) if line.strip()), len(lines))
    first = lines[start].rstrip() if start < len(lines) else ""
    if first not in _VERSIONS:
        raise PatternError(
            f"expected '#Life 1.05' or '#Life 1.06' on the first line, got {first!r}",
            source=source,
            line=start + 1,
            column=1,
        )
    reader = _LifReader(source, _VERSIONS[first])
    for number, line in enumerate(lines[start + 1 :], start=start + 2):
        reader.read(line, number)
    return reader.pattern(max_cells)


@dataclass(slots=True)
class _LifReader:
    """The live cells found so far, and where the next 1.05 row goes."""

    source: str
    version: _Version
    xs: list[int] = field(default_factory=list)
    ys: list[int] = field(default_factory=list)
    corner: tuple[int, int] = (0, 0)
    row: int = 0
    rule: Rule | None = None
    topology: Topology | None = None
    comments: list[str] = field(default_factory=list)

    def read(self, line: str, number: int) -> None:
        """Take one line after the version line."""
        if line.startswith("#"):
            self._hash_line(line, number)
        elif self.version == "1.05":
            self._row(line.rstrip(), number)
        elif line.strip():
            self._cell(line, number)

    def pattern(self, max_cells: int) -> Pattern:
        """The cells read, cut to their bounding box."""
        comments = tuple(self.comments)
        if not self.xs:
            empty = np.zeros((0, 0), dtype=np.uint8)
            return Pattern(
                empty, rule=self.rule, topology=self.topology, comments=comments, anchor="given"
            )
        left, top = min(self.xs), min(self.ys)
        width, height = max(self.xs) - left + 1, max(self.ys) - top + 1
        check_size(width, height, max_cells=max_cells, source=self.source)
        cells = np.zeros((height, width), dtype=np.uint8)
        # Offsets are taken in Python first: the coordinates themselves may not fit in int64.
        cells[[y - top for y in self.ys], [x - left for x in self.xs]] = 1
        return Pattern(
            cells, left, top, self.rule, self.topology, comments=comments, anchor="given"
        )

    def _hash_line(self, line: str, number: int) -> None:
        tag = line[1:2]
        if tag in ("D", "C"):
            self.comments.append(strip_tag(line, 2))
        elif tag == "N":
            self.rule, self.topology = CONWAY, None
        elif tag == "R":
            self._rule(line, number)
        elif tag == "P":
            self._corner(line, number)
        else:
            self.comments.append(line[1:])

    def _rule(self, line: str, number: int) -> None:
        text, column = tag_text(line)
        try:
            self.rule, self.topology = parse_rule(text)
        except RuleError as exc:
            raise self._error(str(exc), number, column) from exc

    def _corner(self, line: str, number: int) -> None:
        if self.version == "1.06":
            raise self._error(
                "#P starts a block of rows in Life 1.05; Life 1.06 lists cells as 'x y' lines",
                number,
                1,
            )
        if (match := _PAIR.fullmatch(line, 2)) is None:
            text, column = tag_text(line)
            raise self._error(
                f"#P needs the block's top-left corner as two integers, got {text!r}: "
                "write #P -1 -1",
                number,
                column,
            )
        self.corner, self.row = (int(match.group(1)), int(match.group(2))), 0

    def _row(self, row: str, number: int) -> None:
        if (bad := _NOT_A_CELL.search(row)) is not None:
            raise self._error(
                f"unexpected {bad.group()!r} in a Life 1.05 row: use . (dead) and * (alive)",
                number,
                bad.start() + 1,
            )
        left, top = self.corner
        live = [left + index for index, glyph in enumerate(row) if glyph == "*"]
        self.xs += live
        self.ys += [top + self.row] * len(live)
        self.row += 1

    def _cell(self, line: str, number: int) -> None:
        if (match := _PAIR.fullmatch(line)) is None:
            column = len(line) - len(line.lstrip()) + 1
            raise self._error(
                f"expected a live cell as two integers 'x y' in Life 1.06, got {line.strip()!r}",
                number,
                column,
            )
        self.xs.append(int(match.group(1)))
        self.ys.append(int(match.group(2)))

    def _error(self, message: str, line: int, column: int) -> PatternError:
        return PatternError(message, source=self.source, line=line, column=column)
