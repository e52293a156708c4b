"""Pattern files in every supported format, behind one door.

    read_pattern(text)          RLE, plaintext (.cells), Life 1.05 or 1.06, told by content
    load_pattern(path)          the same from a file, decoded as UTF-8 (a BOM is dropped)
    format_pattern(p, fmt)      a pattern as RLE or plaintext text
    write_pattern(p, path)      .rle or .cells, chosen by extension, replaced atomically
    bundled_pattern_path(name)  a classic pattern shipped in ``service/life/patterns``

The format is read from the content, never from a file's name: the name is only quoted in
errors. PNG and GIF images are rendered elsewhere, not here.
"""

from __future__ import annotations

import codecs
import os
import re
import zlib
from collections.abc import Callable
from importlib.resources import files
from pathlib import Path
from typing import BinaryIO, Final, Literal, Protocol, TypeAlias

from service.errors import InvalidInput, LimitExceeded, NotAvailable, PatternError
from service.life._rle_meta import is_header
from service.life._text import DEFAULT_MAX_CELLS, split_lines
from service.life.lif import read_lif
from service.life.pattern import Pattern
from service.life.plaintext import read_plaintext, write_plaintext
from service.life.rle import read_rle, write_rle
from service.system.files import write_atomic

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_CELLS",
    "FORMATS",
    "Format",
    "SourceFormat",
    "bundled_pattern_path",
    "bundled_patterns",
    "format_pattern",
    "load_pattern",
    "read_pattern",
    "read_stream",
    "sniff_format",
    "write_pattern",
]

Format: TypeAlias = Literal["rle", "cells"]
"""A format this service writes."""
SourceFormat: TypeAlias = Literal["rle", "cells", "lif"]
"""A format this service reads."""

FORMATS: Final[tuple[Format, ...]] = ("rle", "cells")
DEFAULT_MAX_BYTES: Final = 1 << 26
_GZIP_MAGIC: Final = b"\x1f\x8b"
"""The largest pattern file ``load_pattern`` reads (64 MiB) unless told otherwise."""


class _Reader(Protocol):
    def __call__(self, text: str, *, source: str, max_cells: int) -> Pattern: ...


_READERS: Final[dict[SourceFormat, _Reader]] = {
    "rle": read_rle,
    "cells": read_plaintext,
    "lif": read_lif,
}
_WRITERS: Final[dict[str, Callable[[Pattern], str]]] = {
    "rle": write_rle,
    "cells": write_plaintext,
}
_PLAIN_ROW: Final = re.compile(r"[.O*]+")
_RLE_DATA: Final = re.compile(r"[0-9bo.A$!\s]+")
_KINDS: Final = "an RLE header 'x = ...', RLE data, '#Life 1.05', '#Life 1.06' or rows of . and O"


def read_pattern(
    text: str | bytes,
    *,
    source: str = "<input>",
    max_cells: int = DEFAULT_MAX_CELLS,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> Pattern:
    """Parse a pattern in any format this service reads; bytes are decoded as UTF-8, after
    gunzipping them if they are gzip (Golly's ``.rle.gz``), to at most ``max_bytes``."""
    if isinstance(text, bytes):
        if text.startswith(_GZIP_MAGIC):
            text = _gunzipped(text, source, max_bytes)
        text = _decode(text, source)
    return _READERS[sniff_format(text, source=source)](text, source=source, max_cells=max_cells)


def sniff_format(text: str, *, source: str = "<input>") -> SourceFormat:
    """The format of pattern text, from its first lines that say anything.

    ``#Life`` first is Life 1.05/1.06; an ``x =`` header, or data after ``#`` lines, is RLE;
    ``!`` comments or rows of only ``.``, ``O`` and ``*`` are plaintext; other data made of
    RLE's own characters is RLE without a header.
    """
    seen_hash = False
    for number, line in enumerate(split_lines(text), start=1):
        stripped = line.strip()
        if not stripped:
            continue
        if not seen_hash and stripped.startswith("#Life"):
            return "lif"
        if stripped.startswith("#"):
            seen_hash = True
        elif is_header(line) or seen_hash:
            return "rle"
        elif stripped.startswith("!") or _PLAIN_ROW.fullmatch(stripped):
            return "cells"
        elif _RLE_DATA.fullmatch(stripped) or "$" in stripped:
            return "rle"
        else:
            raise PatternError(
                f"cannot tell the format from {_clip(stripped)!r}: expected {_KINDS}",
                source=source,
                line=number,
                column=len(line) - len(line.lstrip()) + 1,
            )
    if seen_hash:
        return "rle"
    raise PatternError(f"no pattern: the input is empty; expected {_KINDS}", source=source)


def load_pattern(
    path: str | os.PathLike[str],
    *,
    max_cells: int = DEFAULT_MAX_CELLS,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> Pattern:
    """Read a pattern file in any format this service reads; errors name the path as given."""
    source = os.fspath(path)
    try:
        with open(path, "rb") as file:
            return read_stream(file, source=source, max_cells=max_cells, max_bytes=max_bytes)
    except OSError as exc:
        raise PatternError(f"cannot read the file: {exc.strerror or exc}", source=source) from exc


def read_stream(
    stream: BinaryIO,
    *,
    source: str,
    max_cells: int = DEFAULT_MAX_CELLS,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> Pattern:
    """Read a pattern from a binary stream (a file, standard input), at most ``max_bytes``."""
    data = stream.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise LimitExceeded(
            f"{source}: the input is larger than the limit of {max_bytes} bytes: "
            "trim the pattern or raise the limit"
        )
    return read_pattern(data, source=source, max_cells=max_cells, max_bytes=max_bytes)


def format_pattern(pattern: Pattern, fmt: str) -> str:
    """The pattern as text in ``fmt``, one of ``FORMATS``."""
    writer = _WRITERS.get(fmt)
    if writer is None:
        raise InvalidInput(f"unknown pattern format {fmt!r}: choose one of {', '.join(FORMATS)}")
    return writer(pattern)


def write_pattern(pattern: Pattern, path: str | os.PathLike[str]) -> None:
    """Write ``.rle`` or ``.cells`` by the path's extension; readers never see half a file."""
    target = Path(path)
    fmt = target.suffix.lower().removeprefix(".")
    if fmt not in _WRITERS:
        allowed = ", ".join(f".{name}" for name in FORMATS)
        raise InvalidInput(
            f"cannot write a pattern to {os.fspath(path)!r}: the extension {target.suffix!r} "
            f"is not a pattern format; use {allowed}"
        )
    write_atomic(target, format_pattern(pattern, fmt).encode())


def bundled_patterns() -> tuple[str, ...]:
    """The file names of the patterns shipped with the service, sorted."""
    folder = files("service.life") / "patterns"
    return tuple(sorted(item.name for item in folder.iterdir() if _is_pattern(item.name)))


def bundled_pattern_path(name: str) -> Path:
    """The path of a shipped pattern such as ``glider.rle``."""
    names = bundled_patterns()
    if name not in names:
        raise InvalidInput(f"no bundled pattern {name!r}: choose one of {', '.join(names)}")
    resource = files("service.life") / "patterns" / name
    if not isinstance(resource, Path):
        # Only an install from a zip archive gets here; there is no file to name.
        raise NotAvailable(f"bundled pattern {name!r} is inside an archive, not a file")
    return resource


def _gunzipped(data: bytes, source: str, max_bytes: int) -> bytes:
    """The text inside gzip ``data`` (every member of it), refused past ``max_bytes``."""
    pieces: list[bytes] = []
    size = 0
    while data:
        unzip = zlib.decompressobj(wbits=31)
        try:
            piece = unzip.decompress(data, max_bytes + 1 - size)
        except zlib.error as exc:
            raise PatternError(
                f"the gzip data is damaged ({exc}): gzip it again", source=source
            ) from exc
        size += len(piece)
        if size > max_bytes or unzip.unconsumed_tail:
            raise LimitExceeded(
                f"{source}: the input unzipped is larger than the limit of {max_bytes} bytes: "
                "trim the pattern or raise the limit"
            )
        if not unzip.eof:
            raise PatternError("the gzip data ends early: the file is cut short", source=source)
        pieces.append(piece)
        data = unzip.unused_data  # a file may hold several gzip members, one after another
    return b"".join(pieces)


def _decode(data: bytes, source: str) -> str:
    # The BOM is cut off by hand: the utf-8-sig codec reports offsets that skip it.
    skipped = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
    try:
        return data[skipped:].decode("utf-8")
    except UnicodeDecodeError as exc:
        offset = skipped + exc.start
        before = split_lines(data[skipped:offset].decode("utf-8") + "|")
        raise PatternError(
            f"byte 0x{data[offset]:02x} at offset {offset} is not UTF-8: save the file as UTF-8",
            source=source,
            line=len(before),
            column=len(before[-1]),
        ) from exc


def _is_pattern(name: str) -> bool:
    return not name.startswith((".", "_")) and "." in name


def _clip(text: str) -> str:
    return text if len(text) <= 40 else f"{text[:37]}..."
