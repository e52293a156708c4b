"""The data of an RLE file: runs of live cells, decoded at once or token by token.

Tokens are a count (its digits may run on over a line break, as Golly reads them), a tag
(``b`` or ``.`` dead, ``o`` or ``A`` alive, ``$`` row end, ``!`` end) and spaces between
them. Golly's multi-state letters and anything else stop the decoding with an error.

:func:`run_arrays` decodes well-formed data with whole-array operations (tens of MB/s);
it answers None at the first doubt, and :func:`live_runs` then walks the tokens one by one
and raises the error that names the line and column.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Final, TypeAlias

import numpy as np
import numpy.typing as npt

from service.errors import PatternError

__all__ = ["DataLine", "Run", "RunArrays", "live_runs", "run_arrays"]

DataLine: TypeAlias = tuple[int, str]
"""A data line with its 1-based line number."""

_TOKEN: Final = re.compile(
    r"(?P<count>[0-9]+)|(?P<tag>[bo.A$!])|(?P<space>\s+)|(?P<state>[p-y][A-X]|[B-X])|(?P<other>.)"
)


_BLANKS: Final = b" \t"
_BREAKS: Final = b"\r\n"
_ALLOWED: Final = b"0123456789bo.A$" + _BLANKS + _BREAKS
_AS_B_AND_O: Final = bytes.maketrans(b".A", b"bo")
_BLANK_AFTER_COUNT: Final = re.compile(rb"[0-9][ \t]")
_LONGEST_COUNT: Final = 12  # digits; longer counts (never a real pattern's) go token by token


@dataclass(frozen=True, slots=True)
class RunArrays:
    """The runs of live cells as three arrays: row, first column and length of each."""

    rows: npt.NDArray[np.int64]
    columns: npt.NDArray[np.int64]
    lengths: npt.NDArray[np.int64]


def run_arrays(data: str) -> RunArrays | None:
    """The live runs of well-formed data, decoded with whole-array operations.

    None when the data holds anything the token decoder could refuse - a letter other than
    ``b o . A $``, a blank after a count, a zero count, a count with no tag, a count of more
    than twelve digits, a character outside ASCII - so that :func:`live_runs` can say what
    and where. ``data`` is the data lines with their line breaks; everything after the first
    ``!`` is ignored, as it is by the token decoder.
    """
    try:
        text = data.encode("ascii")
    except UnicodeEncodeError:
        return None
    end = text.find(b"!")
    text = text if end < 0 else text[:end]
    if text.translate(None, _ALLOWED):
        return None  # a character the token decoder will name
    text = text.translate(None, _BREAKS)  # a count's digits run on over a line break
    blanks = b" " in text or b"\t" in text
    if (blanks and _BLANK_AFTER_COUNT.search(text)) or text[-1:].isdigit():
        return None  # a blank after a count, or a count left without a tag
    codes = np.frombuffer(text.translate(_AS_B_AND_O, _BLANKS), dtype=np.uint8)
    tags = np.flatnonzero((codes - np.uint8(ord("0"))) > 9)
    counts = _counts(codes, tags)
    return None if counts is None else _placed(codes[tags], counts)


def _counts(
    codes: npt.NDArray[np.uint8], tags: npt.NDArray[np.intp]
) -> npt.NDArray[np.int64] | None:
    """Each tag's count: the number its digits spell, or 1 with none; None for a 0 or a
    count too long to hold.

    The digits are read from the tag backwards, units first, each round only for the counts
    that have a digit that far back; the data ends in a tag, so the character before the
    first one (index -1) is never a digit.
    """
    units = codes[tags - 1] - np.uint8(ord("0"))
    counted = units <= 9
    counts = np.where(counted, units, 1).astype(np.int64)
    reach = np.flatnonzero(counted)  # the tags whose count may have a digit further back
    for back in range(2, _LONGEST_COUNT + 2):
        digits = codes[tags[reach] - back] - np.uint8(ord("0"))
        spelled = np.flatnonzero(digits <= 9)
        if spelled.size == 0:
            break
        if back > _LONGEST_COUNT:
            return None
        reach = reach[spelled]
        counts[reach] += digits[spelled].astype(np.int64) * 10 ** (back - 1)
    if tags.size and not counts.all():
        return None  # a count of 0
    # Rows and columns are sums of counts: kept far from int64's end, or left to the tokens.
    return counts if int(counts.max(initial=0)) * counts.size < 1 << 62 else None


def _placed(tags: npt.NDArray[np.uint8], counts: npt.NDArray[np.int64]) -> RunArrays:
    """Rows and columns from the tags in order: ``$`` moves rows down, the rest move right."""
    row_end = tags == ord("$")
    ends = np.flatnonzero(row_end)
    reached = np.cumsum(np.where(row_end, 0, counts))
    live = np.flatnonzero(tags == ord("o"))
    # A live run's row follows the $ before it (with their counts); its row starts at the
    # column total reached at the latest of them.
    after = np.searchsorted(ends, live)
    row_starts = np.concatenate(([0], reached[ends]))
    downs = np.concatenate(([0], np.cumsum(counts[ends])))
    lengths = counts[live]
    return RunArrays(downs[after], reached[live] - lengths - row_starts[after], lengths)


@dataclass(frozen=True, slots=True)
class Run:
    """A run of live cells and where in the file its token starts."""

    row: int
    column: int
    length: int
    line: int
    at: int


def live_runs(source: str, data: Sequence[DataLine]) -> Iterator[Run]:
    """The runs of live cells, in order; raises at the first token that is not allowed."""
    decoder = _Decoder(source)
    for number, line in data:
        for token in _TOKEN.finditer(line):
            if (run := decoder.feed(token, number)) is not None:
                yield run
            if decoder.ended:
                return
    decoder.finish()


@dataclass(slots=True)
class _Decoder:
    """Where the data has got to: the next cell, and a count still waiting for its tag."""

    source: str
    row: int = 0
    column: int = 0
    count: tuple[int, int, int] | None = None  # the value, and the line and column it starts at
    ended: bool = False

    def feed(self, token: re.Match[str], number: int) -> Run | None:
        """Take one token of line ``number``; a run of live cells comes back."""
        kind, text, at = token.lastgroup, token.group(), token.start() + 1
        if kind == "count":
            # Golly reads digits on through a line break: "12" then "3o" is 123o.
            value = int(text) if self.count is None else int(f"{self.count[0]}{text}")
            self.count = (value, number, at) if self.count is None else (value, *self.count[1:])
        elif kind == "space" and self.count is not None:
            raise self._error(
                f"a space after run count {self.count[0]}: write the count next to its tag",
                number,
                at,
            )
        elif kind == "state":
            raise self._error(
                f"multi-state patterns are not supported: {text!r} is a state of Golly's "
                "multi-state RLE; only b (dead) and o (alive) are allowed",
                number,
                at,
            )
        elif kind == "other":
            raise self._error(
                f"unexpected {text!r} in RLE data: use b, o, $, digits and !", number, at
            )
        elif kind == "tag":
            return self._tag(text, number, at)
        return None

    def finish(self, where: str = "at the end of the data") -> None:
        """Refuse a count left without a tag when the data ends."""
        if self.count is not None:
            value, number, at = self.count
            raise self._error(f"run count {value} {where} has no tag: use b, o or $", number, at)

    def _tag(self, tag: str, number: int, at: int) -> Run | None:
        if tag == "!":
            self.finish("before '!'")
            self.ended = True
            return None
        length, number, at = self.count or (1, number, at)
        self.count = None
        if length == 0:
            raise self._error(f"a run count of 0 before {tag!r}: counts start at 1", number, at)
        if tag == "$":
            self.row, self.column = self.row + length, 0
            return None
        self.column += length
        return Run(self.row, self.column - length, length, number, at) if tag in "oA" else None

    def _error(self, message: str, line: int, column: int) -> PatternError:
        return PatternError(message, source=self.source, line=line, column=column)
