"""Read and write run-length encoded (RLE) patterns as Golly and LifeWiki write them.

A file is ``#`` lines, a header ``x = m, y = n[, rule = R]`` and data: ``b`` (or ``.``) dead,
``o`` (or ``A``) alive, ``$`` ends a row, a number before any of them repeats it, ``!`` ends
the pattern and everything after it is ignored. Reading follows Golly where it is lenient
(CR, LF or CRLF; a missing ``!``; a count whose digits continue on the next line) and refuses
what Golly would quietly misread (a space inside a run, a zero count, live cells past the
header's size). A file with no header is read when it has data: its size is then the extent
of its live cells, as when Golly reads it.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from typing import Final

import numpy as np

from service.errors import PatternError
from service.life._rle_data import DataLine, Run, live_runs
from service.life._rle_meta import RleMeta, is_header
from service.life._text import DEFAULT_MAX_CELLS, check_name, check_size, comment_lines, split_lines
from service.life.pattern import Cells, Pattern
from service.life.rules import CONWAY

__all__ = ["LINE_LENGTH", "read_rle", "write_rle"]

LINE_LENGTH: Final = 70
"""The longest data line ``write_rle`` writes, as Golly and the RLE notes ask."""


def read_rle(text: str, *, source: str = "<input>", max_cells: int = DEFAULT_MAX_CELLS) -> Pattern:
    """Parse RLE text; errors are ``PatternError`` with ``source``, line and column."""
    meta = RleMeta(source)
    data: list[DataLine] = []
    for number, line in enumerate(split_lines(text), start=1):
        if line.startswith("#"):
            meta.read_comment(line, number)
        elif is_header(line):
            if data:
                raise PatternError(
                    "the header 'x = ...' comes after pattern data: put it first",
                    source=source,
                    line=number,
                    column=1,
                )
            width, height = meta.read_header(line, number)
            check_size(width, height, max_cells=max_cells, source=source, line=number)
        elif line.strip():
            data.append((number, line))
            if "!" in line:
                break  # lines after the end are free text, often more comments
    rule, topology = meta.rule
    return Pattern(
        _cells(meta, data, max_cells),
        meta.x,
        meta.y,
        rule,
        topology,
        meta.generation,
        meta.name,
        tuple(meta.comments),
        meta.anchor,
    )


def _cells(meta: RleMeta, data: Sequence[DataLine], max_cells: int) -> Cells:
    if meta.size is not None:
        width, height = meta.size
        cells = np.zeros((height, width), dtype=np.uint8)
        for run in live_runs(meta.source, data):
            if run.row >= height or run.column + run.length > width:
                raise _past_header(meta.source, run, width, height)
            cells[run.row, run.column : run.column + run.length] = 1
        return cells
    if not data:
        raise PatternError("no RLE header 'x = W, y = H' and no pattern data", source=meta.source)
    # No header: the size is the runs' extent, so the runs are decoded once and kept (a
    # headerless file is one of a few lines; one with a header is never held as runs).
    runs = list(live_runs(meta.source, data))
    width = max((run.column + run.length for run in runs), default=0)
    height = max((run.row + 1 for run in runs), default=0)
    check_size(width, height, max_cells=max_cells, source=meta.source)
    cells = np.zeros((height, width), dtype=np.uint8)
    for run in runs:
        cells[run.row, run.column : run.column + run.length] = 1
    return cells


def _past_header(source: str, run: Run, width: int, height: int) -> PatternError:
    if run.row >= height:
        reason = f"row {run.row + 1} is past the header's y = {height}"
    else:
        end = run.column + run.length
        reason = f"row {run.row + 1} reaches column {end}, past the header's x = {width}"
    return PatternError(
        f"live cells outside the header's size: {reason}",
        source=source,
        line=run.line,
        column=run.at,
    )


def write_rle(pattern: Pattern) -> str:
    """The pattern as Golly writes it: ``#`` lines, header, data lines of at most 70 characters.

    The array is written as given, not trimmed, except that a pattern with no live cells is
    written as ``x = 0, y = 0``. ``#CXRLE Pos=x,y`` appears when the origin is not (0, 0) or
    the generation is not 0, with ``Gen=n`` for the latter.
    """
    check_name(pattern.name)
    lines = []
    if pattern.x or pattern.y or pattern.generation:
        gen = f" Gen={pattern.generation}" if pattern.generation else ""
        lines.append(f"#CXRLE Pos={pattern.x},{pattern.y}{gen}")
    if pattern.name is not None:
        lines.append(f"#N {pattern.name}")
    lines += [f"#C {comment}" if comment else "#C" for comment in comment_lines(pattern.comments)]
    cells = pattern.cells if pattern.population else np.zeros((0, 0), dtype=np.uint8)
    suffix = pattern.topology.suffix if pattern.topology is not None else ""
    rule = f"{pattern.rule or CONWAY}{suffix}"
    lines.append(f"x = {cells.shape[1]}, y = {cells.shape[0]}, rule = {rule}")
    lines += _wrap(_tokens(cells))
    return "\n".join(lines) + "\n"


def _tokens(cells: Cells) -> Iterator[str]:
    last = 0
    for index, row in enumerate(cells != 0):
        live = np.flatnonzero(row)
        if live.size == 0:
            continue
        if index > last:
            yield _token(index - last, "$")
        last = index
        # Trailing dead cells are left out: the header's width restores them.
        used = row[: int(live[-1]) + 1]
        edges = [0, *(np.flatnonzero(np.diff(used)) + 1).tolist(), used.size]
        for start, stop in itertools.pairwise(edges):
            yield _token(stop - start, "o" if used[start] else "b")
    yield "!"


def _token(count: int, tag: str) -> str:
    return tag if count == 1 else f"{count}{tag}"


def _wrap(tokens: Iterator[str]) -> list[str]:
    """Tokens packed into lines of at most ``LINE_LENGTH``, never splitting a token."""
    lines: list[str] = []
    current = ""
    for token in tokens:
        if len(current) + len(token) > LINE_LENGTH:
            lines.append(current)
            current = ""
        current += token
    lines.append(current)
    return lines
