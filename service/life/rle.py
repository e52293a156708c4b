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
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from service.errors import PatternError
from service.life._rle_data import DataLine, Run, RunArrays, live_runs, run_arrays
from service.life._rle_meta import RleMeta, is_header
from service.life._text import (
    DEFAULT_MAX_CELLS,
    LINE_BREAK,
    check_name,
    check_size,
    comment_lines,
    split_lines,
)
from service.life.pattern import Cells, Pattern
from service.life.rules import CONWAY

__all__ = ["LINE_LENGTH", "read_rle", "write_rle"]

LINE_LENGTH: Final = 70
"""The longest data line ``write_rle`` writes, as Golly and the RLE notes ask."""

_POWERS_OF_TEN: Final = 10 ** np.arange(1, 19, dtype=np.int64)


def read_rle(text: str, *, source: str = "<input>", max_cells: int = DEFAULT_MAX_CELLS) -> Pattern:
    """Parse RLE text; errors are ``PatternError`` with ``source``, line and column."""
    meta = RleMeta(source)
    data: list[DataLine] = []
    block: Block | None = None
    text = text.removeprefix("\ufeff")
    for number, line, after in _numbered_lines(text):
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
            if (block := _plain_block(text, after, number + 1)) is not None:
                break
        elif line.strip():
            data.append((number, line))
            if "!" in line:
                break  # lines after the end are free text, often more comments
    if meta.size is None and not data:
        raise PatternError("no RLE header 'x = W, y = H' and no pattern data", source=source)
    rule, topology = meta.rule
    if block is not None:
        cells = _cells(meta, block.text, block.lines, max_cells)
    else:
        cells = _cells(meta, "\n".join(line for _, line in data), lambda: data, max_cells)
    return Pattern(
        cells,
        meta.x,
        meta.y,
        rule,
        topology,
        meta.generation,
        meta.name,
        tuple(meta.comments),
        meta.anchor,
    )


@dataclass(frozen=True, slots=True)
class Block:
    """The data after the header, through its ``!``, as one text: no ``#`` line or second
    header sits in it, so all of it is data. ``first`` is the number of its first line."""

    text: str
    first: int

    def lines(self) -> list[DataLine]:
        """Its non-blank lines, numbered, for the token decoder."""
        numbered = enumerate(split_lines(self.text), start=self.first)
        return [(number, line) for number, line in numbered if line.strip()]


def _numbered_lines(text: str) -> Iterator[tuple[int, str, int]]:
    """Each line with its number and the offset just past its ending, found as needed: the
    header is near the top, and the data after it is rarely looked at line by line."""
    at, number = 0, 0
    while at < len(text):
        number += 1
        found = LINE_BREAK.search(text, at)
        end, after = (len(text), len(text)) if found is None else found.span()
        yield number, text[at:end], after
        at = after


def _plain_block(text: str, start: int, first: int) -> Block | None:
    """The text from ``start`` through the first ``!`` when it holds neither ``#`` nor
    ``x`` (so no comment line or second header), else None: read it line by line."""
    bang = text.find("!", start)
    block = text[start:] if bang < 0 else text[start : bang + 1]
    return None if "#" in block or "x" in block else Block(block, first)


def _cells(
    meta: RleMeta, text: str, lines: Callable[[], Sequence[DataLine]], max_cells: int
) -> Cells:
    """The cells of the data ``text``; ``lines`` gives its lines for the token decoder."""
    runs = run_arrays(text)
    if runs is None:
        runs = _token_by_token(meta, lines())  # raises where the data goes wrong
    if meta.size is None:
        # No header: the size is the runs' extent, as Golly reads it.
        ends = runs.columns + runs.lengths
        width = int(ends.max()) if ends.size else 0
        height = int(runs.rows.max()) + 1 if ends.size else 0
        check_size(width, height, max_cells=max_cells, source=meta.source)
    else:
        width, height = meta.size
        outside = (runs.rows >= height) | (runs.columns + runs.lengths > width)
        if outside.any():
            # The token decoder names the first run outside, with its line and column.
            _token_by_token(meta, lines())
    return _filled(runs, width, height)


def _token_by_token(meta: RleMeta, data: Sequence[DataLine]) -> RunArrays:
    runs = list(live_runs(meta.source, data))
    if meta.size is not None:
        width, height = meta.size
        for run in runs:
            if run.row >= height or run.column + run.length > width:
                raise _past_header(meta.source, run, width, height)
    return RunArrays(
        np.array([run.row for run in runs], dtype=np.int64),
        np.array([run.column for run in runs], dtype=np.int64),
        np.array([run.length for run in runs], dtype=np.int64),
    )


def _filled(runs: RunArrays, width: int, height: int) -> Cells:
    """The runs drawn on a dead grid: +1 where each starts, -1 past its end, summed along."""
    edges = np.zeros(width * height + 1, dtype=np.int8)
    starts = runs.rows * width + runs.columns
    # Runs never overlap, and no two start or end at one place; one may end where the next
    # begins (``3o2o``), hence the second line subtracts rather than sets.
    edges[starts] = 1
    edges[starts + runs.lengths] -= 1
    return np.cumsum(edges[:-1], dtype=np.int8).view(np.uint8).reshape(height, width)


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
    lines += _data_lines(cells)
    return "\n".join(lines) + "\n"


def _data_lines(cells: Cells) -> list[str]:
    """The data as Golly writes it, built with whole-array operations: the runs of each row
    up to its last live cell, ``$`` runs between rows, ``!``, in lines of at most
    ``LINE_LENGTH`` that never split a token."""
    counts, tags = _tokens(cells)
    digits = (counts > 1).astype(np.int64)  # a count of 1 is left out
    largest = int(counts.max())
    for power in _POWERS_OF_TEN:
        if power > largest:
            break
        digits += counts >= power
    sizes = digits + 1
    ends = np.cumsum(sizes)
    breaks = _line_breaks(ends)
    text = np.empty(int(ends[-1]), dtype=np.uint8)
    text[ends - 1] = tags
    for place in range(int(digits.max())):
        # The digit ``place`` places left of the tag, for the counts that long.
        long_enough = np.flatnonzero(digits > place)
        text[ends[long_enough] - 2 - place] = ord("0") + counts[long_enough] // 10**place % 10
    data = text.tobytes().decode("ascii")
    bounds = [0, *breaks, len(data)]
    return [data[start:stop] for start, stop in itertools.pairwise(bounds)]


def _tokens(cells: Cells) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.uint8]]:
    """Every token's count and tag, in order, ending with ``!``."""
    height, width = cells.shape
    padded = np.zeros((height, width + 1), dtype=np.int8)
    padded[:, :width] = cells != 0
    # Where each row changes state, in reading order: +1 a live run starts, -1 it ends.
    changes = np.diff(padded, axis=1, prepend=np.int8(0))
    change = changes.ravel()
    at = np.flatnonzero(change)
    row = np.repeat(np.arange(height), np.count_nonzero(changes, axis=1))
    column = at - row * (width + 1)
    first_in_row = np.ones(at.size, dtype=bool)
    first_in_row[1:] = row[1:] != row[:-1]
    before = np.concatenate(([0], column[:-1]))
    before[first_in_row] = 0
    lengths = column - before
    run_tags = np.where(change[at] > 0, ord("b"), ord("o")).astype(np.uint8)
    # Ahead of each row's first run, a $ run for the rows it moves down: from the row before
    # (from the top, for the first live row).
    rows_of_first = row[first_in_row]
    skipped = np.diff(rows_of_first, prepend=0)
    firsts = np.flatnonzero(first_in_row)
    dollar_at = firsts[skipped > 0]
    counts = np.insert(lengths, dollar_at, skipped[skipped > 0])
    tags = np.insert(run_tags, dollar_at, ord("$"))
    # A row that starts live has an empty dead run ahead of it: dropped.
    kept = counts > 0
    counts = np.append(counts[kept], 1)
    tags = np.append(tags[kept], np.uint8(ord("!")))
    return counts, tags


def _line_breaks(ends: npt.NDArray[np.int64]) -> list[int]:
    """Where each line after the first starts, packing whole tokens greedily: a line takes
    tokens while they fit in ``LINE_LENGTH``, as Golly writes them. ``ends[i]`` is the
    offset just past token ``i``."""
    total = int(ends[-1])
    # For every offset, the furthest token end at or before it: where a line that may
    # reach that offset ends.
    marks = np.zeros(total + 1, dtype=np.int64)
    marks[ends] = ends
    furthest = np.maximum.accumulate(marks).data
    breaks: list[int] = []
    start = 0
    while start + LINE_LENGTH < total:
        start = furthest[start + LINE_LENGTH]
        breaks.append(start)
    return breaks
