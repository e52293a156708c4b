"""The data of an RLE file, token by token: runs of live cells with where each one starts.

Tokens are a count (its digits may run on over a line break, as Golly reads them), a tag
(``b`` or ``.`` dead, ``o`` or ``A`` alive, ``$`` row end, ``!`` end) and spaces between
them. Golly's multi-state letters and anything else stop the decoding with an error.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Final, TypeAlias

from service.errors import PatternError

__all__ = ["DataLine", "Run", "live_runs"]

DataLine: TypeAlias = tuple[int, str]
"""A data line with its 1-based line number."""

_TOKEN: Final = re.compile(
    r"(?P<count>[0-9]+)|(?P<tag>[bo.A$!])|(?P<space>\s+)|(?P<state>[p-y][A-X]|[B-X])|(?P<other>.)"
)


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
