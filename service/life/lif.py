"""Read Life 1.05 and Life 1.06 (``.lif``) patterns; this service does not write them.

Life 1.05 opens with ``#Life 1.05``, then ``#D`` descriptions (``#C`` is read the same way),
``#N`` for Conway's rule or ``#R 23/3`` for another (survival/birth, as ``parse_rule``
reads it), and blocks of rows of ``.`` (dead) and ``*`` (alive), each started by ``#P x y``,
the plane coordinates of the block's top-left cell. Rows before any ``#P`` start at (0, 0); a
bare ``#P`` (Golly's ``acorn.lif``) goes on where the rows ended, as Golly reads it.
Life 1.06 opens with ``#Life 1.06``, then lists one live cell a line as ``x y``.

Either way the pattern comes back cut to its live cells: ``cells`` spans their bounding box
and ``x``, ``y`` is its top-left corner; with no live cells it is 0x0 at (0, 0). Other
``#`` lines are kept as comments, as Golly ignores them rather than failing.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import numpy as np
import numpy.typing as npt

from service.errors import PatternError, RuleError
from service.life._text import DEFAULT_MAX_CELLS, check_size, split_lines, strip_tag, tag_text
from service.life.pattern import Pattern
from service.life.rules import CONWAY, Rule, parse_rule
from service.life.topology import Topology

__all__ = ["read_lif"]

_Version = Literal["1.05", "1.06"]
_VERSIONS: Final[dict[str, _Version]] = {"#Life 1.05": "1.05", "#Life 1.06": "1.06"}
_PAIR: Final = re.compile(r"\s*(-?[0-9]+)\s+(-?[0-9]+)\s*")
_INTEGER: Final = re.compile(r"-?[0-9]+")
_NOT_A_CELL: Final = re.compile(r"[^.*]")
_SAFE: Final = 1 << 61  # coordinates this small, and their differences, stay within int64


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
    body = lines[start + 1 :]
    # Life 1.06's cells, from the first line that is not a # line, are read all at once
    # when they are plain; Life 1.05's rows a row at a time.
    head = len(body)
    if reader.version == "1.06":
        head = next((index for index, line in enumerate(body) if line[:1] != "#"), head)
    for number, line in enumerate(body[:head], start=start + 2):
        reader.read(line, number)
    cells = body[head:]
    if cells and not reader.cells_at_once(cells):
        for number, line in enumerate(cells, start=start + 2 + head):
            reader.read(line, number)
    return reader.pattern(max_cells)


@dataclass(slots=True)
class _LifReader:
    """The live cells found so far, and where the next 1.05 row goes."""

    source: str
    version: _Version
    xs: list[int] = field(default_factory=list)
    ys: list[int] = field(default_factory=list)
    # Cells read a row or a file at a time, as int64 arrays, beside ``xs`` and ``ys``.
    chunks: list[tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]] = field(default_factory=list)
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

    def cells_at_once(self, lines: list[str]) -> bool:
        """Read Life 1.06's ``x y`` lines in one go, if all are plain: ASCII pairs of
        integers that fit in 64 bits, no ``#`` line. False: read them line by line."""
        body = "\n".join(lines)
        if not body.isascii() or "#" in body or "+" in body:
            return False
        try:
            pairs = np.loadtxt(io.StringIO(body), dtype=np.int64, ndmin=2, comments=None)
        except (ValueError, OverflowError):
            return False  # the line by line reading says which line is wrong
        if pairs.size and pairs.shape[1] != 2:
            return False
        if pairs.size:
            self.chunks.append((pairs[:, 0].copy(), pairs[:, 1].copy()))
        return True

    def pattern(self, max_cells: int) -> Pattern:
        """The cells read, cut to their bounding box."""
        comments = tuple(self.comments)
        xs, ys = self._coordinates()
        if not xs.size:
            empty = np.zeros((0, 0), dtype=np.uint8)
            return Pattern(
                empty, rule=self.rule, topology=self.topology, comments=comments, anchor="given"
            )
        left, top = int(xs.min()), int(ys.min())
        width, height = int(xs.max()) - left + 1, int(ys.max()) - top + 1
        check_size(width, height, max_cells=max_cells, source=self.source)
        cells = np.zeros((height, width), dtype=np.uint8)
        cells[(ys - top).astype(np.intp), (xs - left).astype(np.intp)] = 1
        return Pattern(
            cells, left, top, self.rule, self.topology, comments=comments, anchor="given"
        )

    def _coordinates(self) -> tuple[npt.NDArray[Any], npt.NDArray[Any]]:
        """All cells' x and y: int64 arrays, or arrays of Python ints when a coordinate does
        not fit in 64 bits (offsets from the corner are then taken in Python)."""
        try:
            xs = [np.array(self.xs, dtype=np.int64), *(x for x, _ in self.chunks)]
            ys = [np.array(self.ys, dtype=np.int64), *(y for _, y in self.chunks)]
        except OverflowError:
            xs = [np.array(self.xs, dtype=object), *(x.astype(object) for x, _ in self.chunks)]
            ys = [np.array(self.ys, dtype=object), *(y.astype(object) for _, y in self.chunks)]
        x, y = np.concatenate(xs), np.concatenate(ys)
        if x.dtype == np.int64 and x.size and _spans_too_far(x, y):
            return x.astype(object), y.astype(object)
        return x, y

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
        text, column = tag_text(line)
        numbers = text.split()
        if len(numbers) > 2 or not all(_INTEGER.fullmatch(word) for word in numbers):
            raise self._error(
                f"#P needs the block's top-left corner as two integers, got {text!r}: "
                "write #P -1 -1",
                number,
                column,
            )
        if not numbers:
            return  # a bare #P, as Golly reads it: the next rows go on where the last ended
        x = int(numbers[0])
        # With one number Golly moves across only; the block then starts below the last rows.
        y = int(numbers[1]) if len(numbers) == 2 else self.corner[1] + self.row
        self.corner, self.row = (x, y), 0

    def _row(self, row: str, number: int) -> None:
        if (bad := _NOT_A_CELL.search(row)) is not None:
            raise self._error(
                f"unexpected {bad.group()!r} in a Life 1.05 row: use . (dead) and * (alive)",
                number,
                bad.start() + 1,
            )
        left, top = self.corner
        live = np.flatnonzero(np.frombuffer(row.encode("ascii"), dtype=np.uint8) == ord("*"))
        if abs(left) < _SAFE and abs(top) + self.row < _SAFE:
            self.chunks.append((live + left, np.full(live.size, top + self.row)))
        else:
            self.xs += [left + int(index) for index in live]
            self.ys += [top + self.row] * live.size
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


def _spans_too_far(xs: npt.NDArray[np.int64], ys: npt.NDArray[np.int64]) -> bool:
    """True when the cells' extent might not fit in int64 (then it is taken in Python)."""
    ends = (int(xs.min()), int(xs.max()), int(ys.min()), int(ys.max()))
    return max(abs(end) for end in ends) >= _SAFE
