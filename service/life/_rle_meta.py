"""The lines of an RLE file around its data: the ``x = m, y = n`` header and the ``#`` lines.

Golly and LifeWiki write ``#N`` (name), ``#C``/``#c`` (comments), ``#O`` (author) and
Golly's ``#CXRLE Pos=x,y Gen=n``; older programs wrote ``#P x y`` or ``#R x y`` (top-left
corner) and ``#r 23/3`` (rule). Other ``#`` lines are kept as comments, as Golly keeps them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final

from service.errors import PatternError, RuleError
from service.life._text import strip_tag, tag_text
from service.life.pattern import Anchor
from service.life.rules import Rule, parse_rule
from service.life.topology import Topology

__all__ = ["RleMeta", "is_header"]

_FIELD: Final = re.compile(r"\s*([A-Za-z]+)\s*=\s*")
_INTEGER: Final = re.compile(r"[0-9]+")
_CORNER: Final = re.compile(r"\s*(-?[0-9]+)\s+(-?[0-9]+)\s*")
_CXRLE_ITEM: Final = re.compile(r"(\w+)=(\S*)")
_POS: Final = re.compile(r"(-?[0-9]+),(-?[0-9]+)")
_HEADER_FORM: Final = "write x = W, y = H, rule = R"


def is_header(line: str) -> bool:
    """True for an ``x = ...`` line; Golly asks the same, as ``xA`` may start multi-state data."""
    text = line.lstrip()
    return text.startswith("x") and (len(text) == 1 or text[1].isspace() or text[1] == "=")


@dataclass(slots=True)
class RleMeta:
    """What the header and ``#`` lines of one RLE file said, filled in as they are read."""

    source: str
    size: tuple[int, int] | None = None
    header_rule: tuple[Rule, Topology | None] | None = None
    line_rule: tuple[Rule, Topology | None] | None = None
    x: int = 0
    y: int = 0
    positioned: bool = False
    generation: int = 0
    name: str | None = None
    comments: list[str] = field(default_factory=list)

    @property
    def rule(self) -> tuple[Rule, Topology | None] | tuple[None, None]:
        """The header's rule, else the ``#r`` line's, else none at all."""
        return self.header_rule or self.line_rule or (None, None)

    @property
    def anchor(self) -> Anchor:
        """Where Golly puts the pattern on a bounded grid: at ``#CXRLE Pos=``; else a header
        centres it by its size (Golly reads no ``#P`` in an RLE); with neither, at (0, 0)."""
        return "given" if self.positioned or self.size is None else "centred"

    def read_header(self, line: str, number: int) -> tuple[int, int]:
        """Read ``x = m, y = n[, rule = R]``: keys in any order, spaces anywhere between."""
        if self.size is not None:
            raise self._error("a second header line: an RLE file has one", number, 1)
        fields = self._fields(line, number)
        for key in ("x", "y"):
            if key not in fields:
                raise self._error(f"the header has no {key}: {_HEADER_FORM}", number, 1)
        self.size = (self._integer(fields["x"], number), self._integer(fields["y"], number))
        if "rule" in fields:
            self.header_rule = self._rule(fields["rule"], number)
        return self.size

    def read_comment(self, line: str, number: int) -> None:
        """Read one ``#`` line."""
        tag = line[1:2]
        if line.startswith("#CXRLE"):
            self._read_cxrle(line, number)
        elif tag in ("C", "c"):
            self.comments.append(strip_tag(line, 2))
        elif tag == "N":
            self._read_name(strip_tag(line, 2))
        elif tag == "O":
            # Kept as "Author: ..." so it reads the same as a plaintext file's !Author: line.
            self.comments.append(f"Author: {strip_tag(line, 2)}")
        elif tag in ("P", "R"):
            self._read_corner(line, number)
        elif tag == "r":
            self.line_rule = self._rule(tag_text(line), number)
        else:
            self.comments.append(line[1:])

    def _fields(self, line: str, number: int) -> dict[str, tuple[str, int]]:
        fields: dict[str, tuple[str, int]] = {}
        at = 0
        while at < len(line) and line[at:].strip():
            match = _FIELD.match(line, at)
            if match is None:
                found = line[at:].strip()
                raise self._error(
                    f"unexpected {found!r} in the header: {_HEADER_FORM}", number, at + 1
                )
            key = match.group(1).lower()
            if key not in ("x", "y", "rule"):
                raise self._error(
                    f"unknown header key {match.group(1)!r}: use x, y and rule",
                    number,
                    match.start(1) + 1,
                )
            if key in fields:
                raise self._error(f"the header gives {key} twice", number, match.start(1) + 1)
            # A rule runs to the end of the line: its :T64,48 suffix holds a comma.
            end = len(line) if key == "rule" else _find_comma(line, match.end())
            fields[key] = (line[match.end() : end].strip(), match.end() + 1)
            at = end + 1
        return fields

    def _integer(self, value: tuple[str, int], number: int) -> int:
        text, column = value
        if _INTEGER.fullmatch(text) is None:
            raise self._error(
                f"size {text!r} is not a whole number of cells: {_HEADER_FORM}", number, column
            )
        return int(text)

    def _rule(self, value: tuple[str, int], number: int) -> tuple[Rule, Topology | None]:
        text, column = value
        try:
            return parse_rule(text)
        except RuleError as exc:
            raise self._error(str(exc), number, column) from exc

    def _read_name(self, text: str) -> None:
        # The first #N names the pattern; a file with more keeps the others as comments.
        if self.name is None and text.strip():
            self.name = text.strip()
        else:
            self.comments.append(text)

    def _read_corner(self, line: str, number: int) -> None:
        match = _CORNER.fullmatch(line, 2)
        if match is None:
            text, column = tag_text(line)
            raise self._error(
                f"{line[:2]} needs the top-left corner as two integers, got {text!r}: "
                f"write {line[:2]} -1 -1",
                number,
                column,
            )
        self.x, self.y = int(match.group(1)), int(match.group(2))

    def _read_cxrle(self, line: str, number: int) -> None:
        # Other keys are skipped, as Golly skips them: a later Golly may add some.
        for item in _CXRLE_ITEM.finditer(line, len("#CXRLE")):
            key, value = item.groups()
            column = item.start(2) + 1
            if key == "Pos":
                if (pos := _POS.fullmatch(value)) is None:
                    raise self._error(
                        f"Pos={value!r} is not two integers: write Pos=-3,7", number, column
                    )
                self.x, self.y = int(pos.group(1)), int(pos.group(2))
                self.positioned = True
            elif key == "Gen":
                if _INTEGER.fullmatch(value) is None:
                    raise self._error(
                        f"Gen={value!r} is not a whole number: write Gen=120", number, column
                    )
                self.generation = int(value)

    def _error(self, message: str, line: int, column: int) -> PatternError:
        return PatternError(message, source=self.source, line=line, column=column)


def _find_comma(line: str, start: int) -> int:
    comma = line.find(",", start)
    return len(line) if comma < 0 else comma
