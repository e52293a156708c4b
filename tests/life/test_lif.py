"""Life 1.05 blocks and Life 1.06 cell lists, with errors at their positions."""

from __future__ import annotations

import numpy as np
import pytest

from service.errors import LimitExceeded, PatternError
from service.life.lif import read_lif
from service.life.pattern import Pattern
from service.life.rules import CONWAY, Rule
from service.life.topology import Topology

GLIDER = [[0, 1, 0], [0, 0, 1], [1, 1, 1]]


def cells(pattern: Pattern) -> list[list[int]]:
    result: list[list[int]] = pattern.cells.tolist()
    return result


def error(text: str) -> str:
    with pytest.raises(PatternError) as caught:
        read_lif(text, source="t.lif")
    return str(caught.value)


# --- Life 1.05 ------------------------------------------------------------------------------


def test_105_glider() -> None:
    pattern = read_lif("#Life 1.05\n#D A glider\n#D  indented\n#N\n#P -1 -1\n.*.\n..*\n***\n")
    assert cells(pattern) == GLIDER
    assert (pattern.x, pattern.y) == (-1, -1)
    assert pattern.rule == CONWAY
    assert pattern.comments == ("A glider", " indented")
    assert pattern.cells.dtype == np.uint8
    assert pattern.cells.flags.c_contiguous


def test_105_blocks_are_placed_by_their_corners() -> None:
    text = "#Life 1.05\n#P 10 -3\n**\n*.\n#P 12 -1\n.*\n**\n"
    pattern = read_lif(text)
    assert (pattern.x, pattern.y) == (10, -3)
    assert cells(pattern) == [[1, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 1], [0, 0, 1, 1]]


def test_105_is_cut_to_its_live_cells() -> None:
    pattern = read_lif("#Life 1.05\n#P 0 0\n....\n..*.\n....\n")
    assert (pattern.x, pattern.y, cells(pattern)) == (2, 1, [[1]])


def test_105_rows_before_any_corner_start_at_the_origin() -> None:
    pattern = read_lif("#Life 1.05\n*\n\n.*\n")
    assert (pattern.x, pattern.y, cells(pattern)) == (0, 0, [[1, 0], [0, 0], [0, 1]])


def test_105_rule_line() -> None:
    pattern = read_lif("#Life 1.05\n#R 23/36\n#P 0 0\n*\n")
    assert pattern.rule == Rule(frozenset({3, 6}), frozenset({2, 3}))
    assert read_lif("#Life 1.05\n#R B3/S23:T8,8\n*").topology == Topology("torus", 8, 8)


def test_105_without_rule_line_leaves_the_rule_unset() -> None:
    assert read_lif("#Life 1.05\n*").rule is None


@pytest.mark.parametrize("newline", ["\n", "\r", "\r\n"])
def test_105_line_endings(newline: str) -> None:
    text = newline.join(["\ufeff#Life 1.05", "#P 0 0", ".*.", "..*", "***", ""])
    assert cells(read_lif(text)) == GLIDER


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "#Life 1.05\n#P 0 0\n.*.\n..O\n",
            "t.lif:4:3: unexpected 'O' in a Life 1.05 row: use . (dead) and * (alive)",
        ),
        (
            "#Life 1.05\n#P 1 a\n*",
            "t.lif:2:4: #P needs the block's top-left corner as two integers",
        ),
        ("#Life 1.05\n#R  33/3\n*", "t.lif:2:5: rule '33/3' repeats a neighbour count"),
        ("\n\n#Life 1.04\n*", "t.lif:3:1: expected '#Life 1.05' or '#Life 1.06' on the first line"),
        ("", "t.lif:1:1: expected '#Life 1.05' or '#Life 1.06' on the first line, got ''"),
    ],
)
def test_105_errors_name_their_position(text: str, message: str) -> None:
    assert error(text).startswith(message)


def test_unknown_hash_lines_are_comments() -> None:
    assert read_lif("#Life 1.05\n#U odd\n*").comments == ("U odd",)


# --- Life 1.06 ------------------------------------------------------------------------------


def test_106_glider_with_negative_coordinates() -> None:
    text = "#Life 1.06\n0 -1\n1 0\n-1 1\n0 1\n1 1\n"
    pattern = read_lif(text)
    assert cells(pattern) == GLIDER
    assert (pattern.x, pattern.y) == (-1, -1)


def test_106_allows_blank_lines_spaces_and_repeats() -> None:
    pattern = read_lif("#Life 1.06\r\n\r\n  5\t7  \r\n5 7\r\n6 7\r\n")
    assert (pattern.x, pattern.y, cells(pattern)) == (5, 7, [[1, 1]])


def test_106_huge_coordinates_keep_their_position() -> None:
    pattern = read_lif(f"#Life 1.06\n{10**30} {-(10**30)}\n")
    assert (pattern.x, pattern.y, cells(pattern)) == (10**30, -(10**30), [[1]])


def test_106_with_no_cells_is_empty() -> None:
    pattern = read_lif("#Life 1.06\n")
    assert (pattern.x, pattern.y, pattern.cells.shape) == (0, 0, (0, 0))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("#Life 1.06\n0 0\n  1\n", "t.lif:3:3: expected a live cell as two integers 'x y'"),
        ("#Life 1.06\n1 2 3\n", "t.lif:2:1: expected a live cell as two integers 'x y'"),
        ("#Life 1.06\n1.5 2\n", "t.lif:2:1: expected a live cell as two integers 'x y'"),
        ("#Life 1.06\n#P 0 0\n", "t.lif:2:1: #P starts a block of rows in Life 1.05"),
    ],
)
def test_106_errors_name_their_position(text: str, message: str) -> None:
    assert error(text).startswith(message)


def test_106_cell_limit() -> None:
    with pytest.raises(LimitExceeded, match=r"^t\.lif: a pattern of 1000x1 cells"):
        read_lif("#Life 1.06\n0 0\n999 0\n", source="t.lif", max_cells=999)


def test_a_bare_p_line_goes_on_where_the_rows_ended() -> None:
    pattern = read_lif("#Life 1.05\n#P\n.*\n#P\n*.\n#P 4\n*\n")
    assert pattern.cells.tolist() == [[0, 1, 0, 0, 0], [1, 0, 0, 0, 0], [0, 0, 0, 0, 1]]
    assert (pattern.x, pattern.y) == (0, 0)


def test_a_rule_of_births_alone_is_golly_s_b_slash_s() -> None:
    pattern = read_lif("#Life 1.05\n#R B234\n#P 0 0\n*\n")
    assert str(pattern.rule) == "B234/S"
