"""RLE as Golly and LifeWiki write it: every header and comment form, errors with positions."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from service.errors import InvalidInput, LimitExceeded, PatternError
from service.life._rle_data import live_runs, run_arrays
from service.life._text import split_lines
from service.life.pattern import Pattern
from service.life.rle import LINE_LENGTH, read_rle, write_rle
from service.life.rules import CONWAY, Rule
from service.life.topology import Topology

GLIDER = [[0, 1, 0], [0, 0, 1], [1, 1, 1]]


def cells(pattern: Pattern) -> list[list[int]]:
    result: list[list[int]] = pattern.cells.tolist()
    return result


def error(text: str) -> str:
    with pytest.raises(PatternError) as caught:
        read_rle(text, source="t.rle")
    return str(caught.value)


# --- the header -----------------------------------------------------------------------------


def test_reads_a_glider() -> None:
    pattern = read_rle("x = 3, y = 3, rule = B3/S23\nbo$2bo$3o!\n")
    assert cells(pattern) == GLIDER
    assert pattern.rule == CONWAY
    assert pattern.topology is None
    assert (pattern.x, pattern.y, pattern.generation, pattern.name) == (0, 0, 0, None)


def test_cells_are_a_contiguous_uint8_array() -> None:
    pattern = read_rle("x = 3, y = 3\nbo$2bo$3o!")
    assert pattern.cells.dtype == np.uint8
    assert pattern.cells.flags.c_contiguous
    assert pattern.cells.shape == (3, 3)


@pytest.mark.parametrize(
    "header",
    [
        "x=3,y=3,rule=B3/S23",
        "x = 3 , y = 3 , rule = B3/S23",
        "  x   =3,y=   3,   rule   =   B3/S23   ",
        "x = 3, y = 3, rule = b3s23",
        "x = 3, y = 3, rule = 23/3",
        "x = 3, y = 3, RULE = B3/S23",
        "x = 3, y = 3,",
    ],
)
def test_header_spacing_and_rule_forms(header: str) -> None:
    pattern = read_rle(f"{header}\nbo$2bo$3o!")
    assert cells(pattern) == GLIDER
    assert pattern.rule in (CONWAY, None)


def test_header_without_rule_leaves_the_rule_unset() -> None:
    assert read_rle("x = 3, y = 3\nbo$2bo$3o!").rule is None


def test_rule_suffix_gives_the_topology() -> None:
    torus = read_rle("x = 3, y = 3, rule = B3/S23:T64,48\nbo$2bo$3o!")
    plane = read_rle("x = 3, y = 3, rule = B36/S23:P20\nbo$2bo$3o!")
    assert torus.topology == Topology("torus", 64, 48)
    assert plane.topology == Topology("plane", 20, 20)
    assert plane.rule == Rule(frozenset({3, 6}), frozenset({2, 3}))


def test_data_shorter_than_the_header_is_padded() -> None:
    pattern = read_rle("x = 5, y = 4\no$bo!")
    assert pattern.cells.shape == (4, 5)
    assert pattern.population == 2


def test_header_with_no_data_is_all_dead() -> None:
    pattern = read_rle("x = 4, y = 2, rule = B3/S23\n")
    assert pattern.cells.shape == (2, 4)
    assert pattern.population == 0


def test_empty_header_is_an_empty_pattern() -> None:
    assert read_rle("x = 0, y = 0\n!").cells.shape == (0, 0)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("x = a, y = 1", "t.rle:1:5: size 'a' is not a whole number of cells"),
        ("x = -3, y = 1", "t.rle:1:5: size '-3' is not a whole number of cells"),
        ("x = 3, z = 1", "t.rle:1:8: unknown header key 'z': use x, y and rule"),
        ("x = 3, x = 1", "t.rle:1:8: the header gives x twice"),
        ("x = 3", "t.rle:1:1: the header has no y"),
        ("x = 3,, y = 3", "t.rle:1:7: unexpected ', y = 3' in the header"),
        ("x = 3, y = 3, rule = B9", "t.rle:1:22: rule 'B9' has a neighbour count of 9"),
        ("x = 3, y = 3, rule = B3/S23:K4", "t.rle:1:22: rule 'B3/S23:K4': Klein bottles"),
        ("x = 1, y = 1\nx = 1, y = 1", "t.rle:2:1: a second header line: an RLE file has one"),
        ("o\nx = 1, y = 1", "t.rle:2:1: the header 'x = ...' comes after pattern data"),
    ],
)
def test_header_errors_name_their_position(text: str, message: str) -> None:
    assert error(text).startswith(message)


def test_header_past_the_cell_limit() -> None:
    with pytest.raises(LimitExceeded, match=r"^t\.rle:2: a pattern of 100x100 cells is larger"):
        read_rle("#N big\nx = 100, y = 100\no!", source="t.rle", max_cells=9999)


# --- comment lines ----------------------------------------------------------------------------


def test_comment_lines() -> None:
    text = (
        "#N Glider\n"
        "#O Richard K. Guy\n"
        "#C The smallest spaceship.\n"
        "#c lower-case c\n"
        "#Cno space\n"
        "#C  two spaces\n"
        "#C\n"
        "#N Second name\n"
        "#Z unknown tag\n"
        "x = 3, y = 3\n"
        "bo$2bo$3o!"
    )
    pattern = read_rle(text)
    assert pattern.name == "Glider"
    assert pattern.comments == (
        "Author: Richard K. Guy",
        "The smallest spaceship.",
        "lower-case c",
        "no space",
        " two spaces",
        "",
        "Second name",
        "Z unknown tag",
    )


@pytest.mark.parametrize("tag", ["#P", "#R"])
def test_old_corner_lines_set_the_position(tag: str) -> None:
    pattern = read_rle(f"{tag} -12 7\nx = 3, y = 3\nbo$2bo$3o!")
    assert (pattern.x, pattern.y) == (-12, 7)


def test_old_rule_line() -> None:
    assert read_rle("#r 23/36\nx = 1, y = 1\no!").rule == Rule(frozenset({3, 6}), frozenset({2, 3}))


def test_header_rule_wins_over_the_old_rule_line() -> None:
    assert read_rle("#r 23/36\nx = 1, y = 1, rule = B3/S23\no!").rule == CONWAY


@pytest.mark.parametrize(
    ("line", "where"),
    [
        ("#CXRLE Pos=-5,12 Gen=340", (-5, 12, 340)),
        ("#CXRLE Gen=340 Pos=-5,12", (-5, 12, 340)),
        ("#CXRLE Pos=3,-4", (3, -4, 0)),
        ("#CXRLE Gen=7", (0, 0, 7)),
        ("#CXRLE Gen=7 Future=yes", (0, 0, 7)),
    ],
)
def test_cxrle_line(line: str, where: tuple[int, int, int]) -> None:
    pattern = read_rle(f"{line}\nx = 3, y = 3\nbo$2bo$3o!")
    assert (pattern.x, pattern.y, pattern.generation) == where


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("#CXRLE Pos=1", "t.rle:1:12: Pos='1' is not two integers: write Pos=-3,7"),
        ("#CXRLE Gen=-1", "t.rle:1:12: Gen='-1' is not a whole number: write Gen=120"),
        ("#P 1", "t.rle:1:4: #P needs the top-left corner as two integers, got '1'"),
        ("#R a b", "t.rle:1:4: #R needs the top-left corner as two integers, got 'a b'"),
        ("#r  B9", "t.rle:1:5: rule 'B9' has a neighbour count of 9"),
    ],
)
def test_comment_line_errors_name_their_position(text: str, message: str) -> None:
    assert error(f"{text}\nx = 1, y = 1\no!").startswith(message)


# --- data ------------------------------------------------------------------------------------


@pytest.mark.parametrize("newline", ["\n", "\r", "\r\n"])
def test_line_endings(newline: str) -> None:
    text = newline.join(["#N Glider", "x = 3, y = 3", "bo$", "2bo$", "3o!", ""])
    pattern = read_rle(text)
    assert cells(pattern) == GLIDER
    assert pattern.name == "Glider"


def test_byte_order_mark() -> None:
    assert cells(read_rle("\ufeffx = 3, y = 3\nbo$2bo$3o!")) == GLIDER


def test_count_split_across_a_line_break() -> None:
    pattern = read_rle("x = 124, y = 1\n12\n3o!")
    assert pattern.population == 123


def test_count_split_around_a_comment_line() -> None:
    assert read_rle("x = 12, y = 1\n1\n#C between\n2o!").population == 12


def test_runs_of_row_ends_make_blank_rows() -> None:
    pattern = read_rle("x = 2, y = 5\no3$bo!")
    assert cells(pattern) == [[1, 0], [0, 0], [0, 0], [0, 1], [0, 0]]


def test_missing_end_mark_is_fine() -> None:
    assert cells(read_rle("x = 3, y = 3\nbo$2bo$3o")) == GLIDER


def test_text_after_the_end_mark_is_ignored() -> None:
    text = "x = 3, y = 3\nbo$2bo$3o! anything q 7\n#CXRLE Pos=garbage\nx = what\nzzz\n"
    pattern = read_rle(text)
    assert cells(pattern) == GLIDER
    assert (pattern.x, pattern.y) == (0, 0)


def test_whitespace_between_tokens_is_ignored() -> None:
    assert cells(read_rle("x = 3, y = 3\n  b o $\t2b o $ 3o !")) == GLIDER


def test_long_lines() -> None:
    pattern = read_rle("x = 20000, y = 1\n" + "ob" * 10_000 + "!")
    assert pattern.population == 10_000


def test_dot_and_a_are_dead_and_alive() -> None:
    assert cells(read_rle("x = 3, y = 3\n.A$2.A$3A!")) == GLIDER


def test_dead_cells_and_row_ends_past_the_header_are_harmless() -> None:
    assert cells(read_rle("x = 3, y = 3\nbo5b$2bo$3o$$!")) == GLIDER


def test_no_header_takes_the_size_of_the_live_cells() -> None:
    pattern = read_rle("#C from a forum post\nbo$2bo$3o3b$$!")
    assert cells(pattern) == GLIDER
    assert pattern.comments == ("from a forum post",)


def test_no_header_and_no_data() -> None:
    assert error("#C nothing\n") == "t.rle: no RLE header 'x = W, y = H' and no pattern data"


def test_no_header_past_the_cell_limit() -> None:
    with pytest.raises(LimitExceeded, match=r"^t\.rle: a pattern of 100x1 cells"):
        read_rle("100o!", source="t.rle", max_cells=99)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("b\n  q!", "t.rle:3:3: unexpected 'q' in RLE data: use b, o, $, digits and !"),
        ("bo$#o!", "t.rle:2:4: unexpected '#' in RLE data"),
        (
            "2bC!",
            "t.rle:2:3: multi-state patterns are not supported: 'C' is a state of Golly's "
            "multi-state RLE; only b (dead) and o (alive) are allowed",
        ),
        ("bpA!", "t.rle:2:2: multi-state patterns are not supported: 'pA'"),
        ("4o!", "t.rle:2:1: live cells outside the header's size: row 1 reaches column 4"),
        ("bo$b\n3o!", "t.rle:3:1: live cells outside the header's size: row 2 reaches column 4"),
        ("3$o!", "t.rle:2:3: live cells outside the header's size: row 4 is past the header's y"),
        ("3 o!", "t.rle:2:2: a space after run count 3: write the count next to its tag"),
        ("3\n o!", "t.rle:3:1: a space after run count 3"),
        ("0o!", "t.rle:2:1: a run count of 0 before 'o': counts start at 1"),
        ("o2!", "t.rle:2:2: run count 2 before '!' has no tag: use b, o or $"),
        ("o$1\n2", "t.rle:2:3: run count 12 at the end of the data has no tag: use b, o or $"),
    ],
)
def test_data_errors_name_their_position(data: str, message: str) -> None:
    assert error(f"x = 3, y = 3\n{data}").startswith(message)


# --- writing ----------------------------------------------------------------------------------


def test_writes_a_glider() -> None:
    pattern = Pattern(np.array(GLIDER, dtype=np.uint8), name="Glider", comments=("c4 spaceship",))
    assert write_rle(pattern) == (
        "#N Glider\n#C c4 spaceship\nx = 3, y = 3, rule = B3/S23\nbo$2bo$3o!\n"
    )


def test_writes_position_generation_rule_and_topology() -> None:
    pattern = Pattern(
        np.ones((1, 2), dtype=np.uint8),
        x=-4,
        y=9,
        rule=Rule(frozenset({3, 6}), frozenset({2, 3})),
        topology=Topology("torus", 30, 20),
        generation=12,
    )
    assert write_rle(pattern) == (
        "#CXRLE Pos=-4,9 Gen=12\nx = 2, y = 1, rule = B36/S23:T30,20\n2o!\n"
    )


def test_writes_position_alone_when_generation_is_zero() -> None:
    text = write_rle(Pattern(np.ones((1, 1), dtype=np.uint8), x=1))
    assert text.startswith("#CXRLE Pos=1,0\n")


def test_merges_row_ends_and_drops_trailing_dead_cells() -> None:
    array = np.zeros((7, 6), dtype=np.uint8)
    array[1, 0:2] = 1
    array[4, 3] = 1
    assert write_rle(Pattern(array)).endswith("x = 6, y = 7, rule = B3/S23\n$2o3$3bo!\n")


def test_empty_pattern_writes_zero_size() -> None:
    text = write_rle(Pattern(np.zeros((4, 5), dtype=np.uint8)))
    assert text == "x = 0, y = 0, rule = B3/S23\n!\n"
    assert read_rle(text).cells.shape == (0, 0)


def test_comments_with_line_breaks_become_several_lines() -> None:
    text = write_rle(Pattern(np.ones((1, 1), dtype=np.uint8), comments=("one\r\ntwo", "")))
    assert text.startswith("#C one\n#C two\n#C\nx = 1")


def test_a_name_with_a_line_break_is_refused() -> None:
    with pytest.raises(InvalidInput, match="pattern name 'a\\\\nb' holds a line break"):
        write_rle(Pattern(np.ones((1, 1), dtype=np.uint8), name="a\nb"))


def test_wraps_at_seventy_without_splitting_tokens() -> None:
    array = np.zeros((3, 200), dtype=np.uint8)
    array[:, ::2] = 1
    lines = write_rle(Pattern(array)).splitlines()[1:]
    assert all(len(line) <= LINE_LENGTH for line in lines)
    assert all(line[-1] in "bo$!" for line in lines)
    assert lines[0] == "ob" * 35


_LINE = st.text(st.characters(blacklist_characters="\r\n", codec="utf-8"), max_size=20)


@st.composite
def patterns(draw: st.DrawFn) -> Pattern:
    height = draw(st.integers(0, 12))
    width = draw(st.integers(0, 160))
    array = draw(arrays(np.uint8, (height, width), elements=st.sampled_from([0, 0, 1])))
    name = draw(st.none() | _LINE.map(str.strip).filter(bool))
    return Pattern(
        array,
        x=draw(st.integers(-(10**12), 10**12)),
        y=draw(st.integers(-50, 50)),
        rule=draw(st.sampled_from([None, CONWAY, Rule(frozenset({3, 6}), frozenset({2, 3}))])),
        topology=draw(st.sampled_from([None, Topology("torus", 300, 40)])),
        generation=draw(st.integers(0, 10**15)),
        name=name,
        comments=tuple(draw(st.lists(_LINE, max_size=3))),
    )


@given(patterns())
def test_round_trip(pattern: Pattern) -> None:
    text = write_rle(pattern)
    back = read_rle(text)
    lines = text.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("x = "))
    assert all(len(line) <= LINE_LENGTH for line in lines[header + 1 :])
    expected = pattern.cells if pattern.population else np.zeros((0, 0), dtype=np.uint8)
    assert np.array_equal(back.cells, expected)
    assert back.cells.shape == expected.shape
    assert (back.x, back.y, back.generation) == (pattern.x, pattern.y, pattern.generation)
    assert back.rule == (pattern.rule or CONWAY)
    assert back.topology == pattern.topology
    assert (back.name, back.comments) == (pattern.name, pattern.comments)


# --- the whole-array codec against the token by token one -----------------------------------

_DATA = st.text(st.sampled_from([*"bo.A$!0123456789 \t\n\r", "x", "#", "é"]), max_size=60)


@given(_DATA)
def test_whole_array_decoding_agrees_with_the_tokens_or_leaves_them_to_say_why(data: str) -> None:
    decoded = run_arrays(data)
    lines = [(number, line) for number, line in enumerate(split_lines(data), 1) if line.strip()]
    try:
        runs = list(live_runs("t.rle", lines))
    except PatternError:
        assert decoded is None  # the token decoder names the fault
        return
    if decoded is not None:
        found = list(zip(decoded.rows, decoded.columns, decoded.lengths, strict=True))
        assert found == [(run.row, run.column, run.length) for run in runs]


def _golly_tokens(cells: np.ndarray[Any, np.dtype[np.uint8]]) -> str:
    """The data as a writer that walks each row run by run writes it (the one Golly has)."""
    tokens, last = [], 0
    for index, row in enumerate(cells):
        live = np.flatnonzero(row)
        if live.size == 0:
            continue
        if index > last:
            tokens.append(f"{index - last}$" if index - last > 1 else "$")
        last = index
        used = row[: int(live[-1]) + 1]
        edges = [0, *(np.flatnonzero(np.diff(used)) + 1).tolist(), used.size]
        for start, stop in itertools.pairwise(edges):
            tag = "o" if used[start] else "b"
            tokens.append(f"{stop - start}{tag}" if stop - start > 1 else tag)
    tokens.append("!")
    lines, current = [], ""
    for token in tokens:
        if len(current) + len(token) > LINE_LENGTH:
            lines.append(current)
            current = ""
        current += token
    return "\n".join([*lines, current])


@given(
    arrays(
        np.uint8,
        st.tuples(st.integers(1, 30), st.integers(1, 400)),
        elements=st.sampled_from([0, 0, 0, 1]),
    )
)
def test_whole_array_writing_matches_a_run_by_run_writer(array: np.ndarray[Any, Any]) -> None:
    if not array.any():
        array[0, 0] = 1
    written = write_rle(Pattern(array)).split("\n", 1)[1].rstrip("\n")
    assert written == _golly_tokens(array)


def test_long_counts_and_comments_in_the_data_take_the_token_path() -> None:
    assert run_arrays("1234567890123o!") is None
    text = "x = 5, y = 2\n2o\n#C between rows\n$5o!\n"
    assert cells(read_rle(text)) == [[1, 1, 0, 0, 0], [1, 1, 1, 1, 1]]
    assert read_rle(text).comments == ("between rows",)


def test_a_count_split_over_a_line_break_and_crlf() -> None:
    assert cells(read_rle("x = 12, y = 1\r\n1\r\n2o!\r\n")) == [[1] * 12]
