"""Helpers shared by the pattern readers and writers: lines, limits, comments and names."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final

from service.errors import InvalidInput, LimitExceeded

__all__ = [
    "DEFAULT_MAX_CELLS",
    "LINE_BREAK",
    "check_name",
    "check_size",
    "comment_lines",
    "split_lines",
    "strip_tag",
    "tag_text",
]

DEFAULT_MAX_CELLS: Final = 1 << 26
"""The largest array a reader builds (64 Mi cells, 64 MiB of uint8) unless told otherwise."""

# Only CR, LF and CRLF end a line: str.splitlines() would also split on form feeds,
# U+2028 and friends, which may legitimately sit inside a comment.
LINE_BREAK: Final = re.compile(r"\r\n|\r|\n")


def split_lines(text: str) -> list[str]:
    """The lines of ``text`` without their endings; a leading UTF-8 BOM is dropped."""
    lines = LINE_BREAK.split(text.removeprefix("\ufeff"))
    if lines[-1] == "":
        lines.pop()
    return lines


def strip_tag(line: str, width: int) -> str:
    """The text after a ``#C``-style tag of ``width`` characters, less one separating space."""
    rest = line[width:]
    return rest[1:] if rest.startswith(" ") else rest


def tag_text(line: str) -> tuple[str, int]:
    """The trimmed text after a two-character tag such as ``#P``, with its 1-based column."""
    rest = line[2:]
    return rest.strip(), 3 + len(rest) - len(rest.lstrip())


def check_size(
    width: int, height: int, *, max_cells: int, source: str, line: int = 0, column: int = 0
) -> None:
    """Refuse a pattern array larger than ``max_cells`` before it is allocated."""
    if width * height <= max_cells:
        return
    where = (
        source if line == 0 else f"{source}:{line}" if column == 0 else f"{source}:{line}:{column}"
    )
    raise LimitExceeded(
        f"{where}: a pattern of {width}x{height} cells is larger than the limit of "
        f"{max_cells} cells: trim the pattern or raise the limit"
    )


def comment_lines(comments: Iterable[str]) -> list[str]:
    """Comments as single lines for a writer: a comment holding line breaks becomes several."""
    return [line for comment in comments for line in LINE_BREAK.split(comment)]


def check_name(name: str | None) -> None:
    """Refuse a name a one-line ``#N`` or ``!Name:`` field cannot hold."""
    if name is not None and LINE_BREAK.search(name):
        raise InvalidInput(f"pattern name {name!r} holds a line break: a name is one line")
