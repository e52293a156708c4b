"""One door to every format: sniffing, decoding, files, atomic writes, bundled patterns."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import pytest

from service.errors import FanoutError, InvalidInput, LimitExceeded, PatternError
from service.life.formats import (
    bundled_pattern_path,
    bundled_patterns,
    format_pattern,
    load_pattern,
    read_pattern,
    sniff_format,
    write_pattern,
)
from service.life.pattern import Pattern
from service.life.rules import CONWAY, Rule

GLIDER = [[0, 1, 0], [0, 0, 1], [1, 1, 1]]


# --- sniffing ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "fmt"),
    [
        ("x = 3, y = 3\nbo$2bo$3o!", "rle"),
        ("x=3,y=3\nbo$2bo$3o!", "rle"),
        ("#N Glider\n#C a comment\n\nx = 3, y = 3\nbo$2bo$3o!", "rle"),
        ("#C no header\nbo$2bo$3o!", "rle"),
        ("bo$2bo$3o!", "rle"),
        ("3o!", "rle"),
        ("\ufeff\n#Life 1.05\n#P 0 0\n*", "lif"),
        ("#Life 1.06\n0 0", "lif"),
        ("!Name: Glider\n.O.\n..O\nOOO", "cells"),
        (".O.\n..O\nOOO", "cells"),
        ("\n.*.\n..*\n***", "cells"),
        ("!", "cells"),
    ],
)
def test_sniff_format(text: str, fmt: str) -> None:
    assert sniff_format(text) == fmt


@pytest.mark.parametrize(
    "text",
    [
        "x = 3, y = 3\nbo$2bo$3o!",
        "#C no header\nbo$2bo$3o!",
        "!Name: Glider\n.O.\n..O\nOOO",
        "#Life 1.05\n#P 0 0\n.*.\n..*\n***",
        "#Life 1.06\n1 0\n2 1\n0 2\n1 2\n2 2",
    ],
)
def test_read_pattern_reads_every_format(text: str) -> None:
    assert read_pattern(text).cells.tolist() == GLIDER


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "t: no pattern: the input is empty; expected an RLE header 'x = ...'"),
        ("\n  \n", "t: no pattern: the input is empty"),
        ("\n\n  hello world", "t:3:3: cannot tell the format from 'hello world': expected"),
    ],
)
def test_sniffing_errors(text: str, message: str) -> None:
    with pytest.raises(PatternError) as caught:
        read_pattern(text, source="t")
    assert str(caught.value).startswith(message)


def test_errors_come_from_the_sniffed_reader() -> None:
    with pytest.raises(PatternError, match=r"^g\.rle:2:3: unexpected 'q' in RLE data"):
        read_pattern("x = 3, y = 3\nboq!", source="g.rle")


# --- bytes and files --------------------------------------------------------------------------


def test_bytes_with_a_byte_order_mark() -> None:
    pattern = read_pattern(b"\xef\xbb\xbf#N Gl\xc3\xbcder\r\nx = 3, y = 3\r\nbo$2bo$3o!")
    assert pattern.name == "Glüder"
    assert pattern.cells.tolist() == GLIDER


@pytest.mark.parametrize(
    ("data", "where"),
    [
        (b"\xff", "t:1:1: byte 0xff at offset 0"),
        (b"\xef\xbb\xbfx = 1, y = 1\r\n#C \xc3\xa9\xe9\n", "t:2:5: byte 0xe9 at offset 22"),
        (b"!\r\r\n..\x80", "t:3:3: byte 0x80 at offset 6"),
    ],
)
def test_undecodable_bytes_are_named(data: bytes, where: str) -> None:
    with pytest.raises(PatternError) as caught:
        read_pattern(data, source="t")
    assert str(caught.value) == f"{where} is not UTF-8: save the file as UTF-8"


def test_load_pattern(tmp_path: Path) -> None:
    path = tmp_path / "glider.txt"
    path.write_bytes(b"#Life 1.06\n1 0\n2 1\n0 2\n1 2\n2 2\n")
    assert load_pattern(path).cells.tolist() == GLIDER
    assert load_pattern(str(path)).population == 5


def test_load_pattern_names_the_file_in_errors(tmp_path: Path) -> None:
    path = tmp_path / "bad.rle"
    path.write_text("x = 3, y = 3\nbo$\n2bq!")
    with pytest.raises(PatternError) as caught:
        load_pattern(path)
    assert str(caught.value).startswith(f"{path}:3:3: unexpected 'q'")


def test_load_pattern_of_a_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "missing.rle"
    with pytest.raises(PatternError, match="cannot read the file: No such file"):
        load_pattern(path)


def test_load_pattern_byte_limit(tmp_path: Path) -> None:
    path = tmp_path / "big.cells"
    path.write_text("O" * 101)
    with pytest.raises(LimitExceeded, match="larger than the limit of 100 bytes"):
        load_pattern(path, max_bytes=100)
    assert load_pattern(path, max_bytes=101).population == 101


def test_load_pattern_cell_limit(tmp_path: Path) -> None:
    path = tmp_path / "big.rle"
    path.write_text("x = 10, y = 10\no!")
    with pytest.raises(LimitExceeded, match=r"big\.rle:1: a pattern of 10x10 cells"):
        load_pattern(path, max_cells=99)


# --- writing ----------------------------------------------------------------------------------


def glider() -> Pattern:
    return Pattern(np.array(GLIDER, dtype=np.uint8), x=2, name="Glider")


def test_format_pattern() -> None:
    assert format_pattern(glider(), "rle").endswith("x = 3, y = 3, rule = B3/S23\nbo$2bo$3o!\n")
    assert format_pattern(glider(), "cells") == "!Name: Glider\n.O.\n..O\nOOO\n"


def test_format_pattern_refuses_unknown_formats() -> None:
    allowed = "choose one of rle, cells"
    with pytest.raises(InvalidInput, match=f"unknown pattern format 'png': {allowed}"):
        format_pattern(glider(), "png")


@pytest.mark.parametrize("name", ["out.rle", "out.RLE", "out.cells"])
def test_write_pattern_round_trips(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    write_pattern(glider(), path)
    back = load_pattern(path)
    assert back.cells.tolist() == GLIDER
    assert back.name == "Glider"
    assert os.listdir(tmp_path) == [name]


def test_write_pattern_replaces_an_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "out.rle"
    path.write_text("old")
    write_pattern(glider(), str(path))
    assert path.read_text().startswith("#CXRLE Pos=2,0\n#N Glider\n")
    assert os.listdir(tmp_path) == ["out.rle"]


def test_write_pattern_keeps_the_umask_permissions(tmp_path: Path) -> None:
    path = tmp_path / "out.cells"
    old = os.umask(0o022)
    try:
        write_pattern(glider(), path)
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o644


@pytest.mark.parametrize("name", ["out.png", "out.gif", "out", "out.lif"])
def test_write_pattern_refuses_other_extensions(tmp_path: Path, name: str) -> None:
    with pytest.raises(InvalidInput, match=r"is not a pattern format; use \.rle, \.cells"):
        write_pattern(glider(), tmp_path / name)
    assert os.listdir(tmp_path) == []


def test_write_pattern_into_a_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match=r"cannot write .*: its directory .* does not exist"):
        write_pattern(glider(), tmp_path / "missing" / "out.rle")


def test_write_pattern_failure_leaves_no_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "out.rle"
    target.mkdir()
    with pytest.raises(FanoutError, match="cannot write"):
        write_pattern(glider(), target)
    assert os.listdir(tmp_path) == ["out.rle"]


# --- bundled patterns -------------------------------------------------------------------------

HIGHLIFE = Rule(frozenset({3, 6}), frozenset({2, 3}))


@pytest.mark.parametrize(
    ("name", "population", "rule"),
    [
        ("glider.rle", 5, CONWAY),
        ("gosper-glider-gun.rle", 36, CONWAY),
        ("r-pentomino.rle", 5, CONWAY),
        ("acorn.rle", 7, CONWAY),
        ("highlife-replicator.rle", 12, HIGHLIFE),
        ("blinker.cells", 3, None),
        ("pulsar.cells", 48, None),
        ("beacon.lif", 6, CONWAY),
        ("lwss.lif", 9, None),
    ],
)
def test_bundled_patterns(name: str, population: int, rule: Rule | None) -> None:
    pattern = load_pattern(bundled_pattern_path(name))
    assert pattern.population == population
    assert pattern.rule == rule


def test_bundled_pattern_list() -> None:
    names = bundled_patterns()
    assert "glider.rle" in names
    assert names == tuple(sorted(names))


def test_bundled_gun_matches_its_picture() -> None:
    gun = load_pattern(bundled_pattern_path("gosper-glider-gun.rle"))
    assert (gun.width, gun.height, gun.name) == (36, 9, "Gosper glider gun")
    row = "".join(map(str, gun.cells[4].tolist()))
    assert row == "11" + "0" * 8 + "1" + "0" * 5 + "1000110" + "0" * 13


@pytest.mark.parametrize("name", ["nope.rle", "../formats.py", "/etc/passwd", ""])
def test_unknown_bundled_pattern(name: str) -> None:
    with pytest.raises(InvalidInput, match=r"no bundled pattern .*: choose one of acorn\.rle"):
        bundled_pattern_path(name)


def test_a_stream_past_the_byte_limit_is_refused_without_reading_it_all() -> None:
    import io

    from service.errors import LimitExceeded
    from service.life.formats import read_stream

    stream = io.BytesIO(b"o" * 1000)
    with pytest.raises(LimitExceeded, match=r"<stdin>: the input is larger than the limit of 100"):
        read_stream(stream, source="<stdin>", max_bytes=100)
    assert stream.tell() == 101


# --- gzip, as Golly's .rle.gz files are -----------------------------------------------------


def test_reads_gzip_of_any_format(tmp_path: Path) -> None:
    path = tmp_path / "glider.rle.gz"
    path.write_bytes(gzip.compress(b"x = 3, y = 3\nbo$2bo$3o!\n"))
    assert load_pattern(path).cells.tolist() == [[0, 1, 0], [0, 0, 1], [1, 1, 1]]
    two_members = gzip.compress(b"#Life 1.06\n0 0\n") + gzip.compress(b"2 1\n")
    assert read_pattern(two_members).cells.tolist() == [[1, 0, 0], [0, 0, 1]]


def test_gzip_that_unzips_past_the_limit_is_refused_early() -> None:
    bomb = gzip.compress(b"x = 1, y = 1\n" + b" " * 10_000_000 + b"o!\n")
    with pytest.raises(LimitExceeded, match="unzipped is larger than the limit of 4096 bytes"):
        read_pattern(bomb, source="bomb.rle.gz", max_bytes=4096)


def test_damaged_or_cut_gzip_is_named() -> None:
    whole = gzip.compress(b"x = 1, y = 1\no!\n")
    with pytest.raises(PatternError, match="the gzip data ends early"):
        read_pattern(whole[:-12], source="cut.rle.gz")
    with pytest.raises(PatternError, match="the gzip data is damaged"):
        read_pattern(whole[:10] + b"\xff" * 12 + whole[22:], source="bad.rle.gz")


def test_reads_gollys_gzipped_gun() -> None:
    path = Path("/usr/share/golly/Patterns/Life/Guns/infinite-Corderships-gun.rle.gz")
    if not path.exists():
        pytest.fail("Debian's golly is not installed: make test installs it")
    assert load_pattern(path).population > 0
