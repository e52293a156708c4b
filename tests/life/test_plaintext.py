"""Plaintext (.cells): comments, the name, rows of . O and *, and the round trip."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from service.errors import InvalidInput, LimitExceeded, PatternError
from service.life.pattern import Pattern
from service.life.plaintext import read_plaintext, write_plaintext
from tests.fixtures import GLIDER_CELLS as GLIDER


def cells(pattern: Pattern) -> list[list[int]]:
    result: list[list[int]] = pattern.cells.tolist()
    return result


def test_reads_a_glider() -> None:
    pattern = read_plaintext("!Name: Glider\n!A spaceship.\n.O.\n..O\nOOO\n")
    assert cells(pattern) == GLIDER
    assert pattern.name == "Glider"
    assert pattern.comments == ("A spaceship.",)
    assert pattern.cells.dtype == np.uint8
    assert pattern.cells.flags.c_contiguous
    assert (pattern.rule, pattern.topology, pattern.x, pattern.y) == (None, None, 0, 0)


def test_star_is_alive_too() -> None:
    assert cells(read_plaintext(".*.\n..*\n***")) == GLIDER


def test_only_the_first_name_line_names_the_pattern() -> None:
    pattern = read_plaintext("!Author: Someone\n!name:  Glider  \n!Name: Other\nO")
    assert pattern.name == "Glider"
    assert pattern.comments == ("Author: Someone", "Name: Other")


def test_comments_are_kept_verbatim() -> None:
    pattern = read_plaintext("! spaced\n!\n!!bang\nO\n!after the rows")
    assert pattern.comments == (" spaced", "", "!bang", "after the rows")


def test_uneven_rows_are_padded() -> None:
    assert cells(read_plaintext(".O\n..O\nOOO\nO")) == [
        [0, 1, 0],
        [0, 0, 1],
        [1, 1, 1],
        [1, 0, 0],
    ]


def test_blank_lines_are_dead_rows_until_the_last_row() -> None:
    pattern = read_plaintext("!Name: gap\n\nO\n\nO\n\n\n")
    assert cells(pattern) == [[0], [1], [0], [1]]


def test_trailing_spaces_are_ignored() -> None:
    assert cells(read_plaintext(".O.  \n..O\t\nOOO ")) == GLIDER


@pytest.mark.parametrize("newline", ["\n", "\r", "\r\n"])
def test_line_endings(newline: str) -> None:
    pattern = read_plaintext(newline.join(["!Name: Glider", ".O.", "..O", "OOO", ""]))
    assert cells(pattern) == GLIDER
    assert pattern.name == "Glider"


def test_byte_order_mark() -> None:
    assert read_plaintext("\ufeff!Name: Glider\nO").name == "Glider"


def test_comments_only_is_an_empty_pattern() -> None:
    assert read_plaintext("!Name: nothing\n").cells.shape == (0, 0)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "!Name: x\n.O.\n..o\n",
            "t.cells:3:3: unexpected 'o' in a plaintext row: use . (dead) and O or * (alive)",
        ),
        (" .O", "t.cells:1:1: unexpected ' ' in a plaintext row"),
        ("O O", "t.cells:1:2: unexpected ' ' in a plaintext row"),
        ("\ufeffOO\r\nOx", "t.cells:2:2: unexpected 'x' in a plaintext row"),
    ],
)
def test_errors_name_their_position(text: str, message: str) -> None:
    with pytest.raises(PatternError) as caught:
        read_plaintext(text, source="t.cells")
    assert str(caught.value).startswith(message)


def test_cell_limit() -> None:
    with pytest.raises(LimitExceeded, match=r"^t\.cells: a pattern of 50x3 cells"):
        read_plaintext("O" * 50 + "\nO\nO", source="t.cells", max_cells=149)


def test_writes_full_rows() -> None:
    array = np.array([[0, 1, 0, 0], [0, 0, 0, 0]], dtype=np.uint8)
    pattern = Pattern(array, name="Bit", comments=("one", "two\nthree"))
    assert write_plaintext(pattern) == "!Name: Bit\n!one\n!two\n!three\n.O..\n....\n"


def test_writes_nothing_for_nothing() -> None:
    assert write_plaintext(Pattern(np.zeros((0, 0), dtype=np.uint8))) == ""


def test_a_name_with_a_line_break_is_refused() -> None:
    with pytest.raises(InvalidInput, match="holds a line break"):
        write_plaintext(Pattern(np.ones((1, 1), dtype=np.uint8), name="a\rb"))


_LINE = st.text(st.characters(blacklist_characters="\r\n", codec="utf-8"), max_size=20)


@st.composite
def patterns(draw: st.DrawFn) -> Pattern:
    # A row is a line, so an array with no rows or no columns has no size to write.
    height = draw(st.integers(1, 12))
    width = draw(st.integers(1, 120))
    array = draw(arrays(np.uint8, (height, width), elements=st.sampled_from([0, 0, 1])))
    name = draw(st.none() | _LINE.map(str.strip).filter(bool))
    # With no name, a first comment reading "Name: ..." would be taken for one.
    comment = _LINE.filter(lambda text: not text.lower().startswith("name:"))
    return Pattern(array, name=name, comments=tuple(draw(st.lists(comment, max_size=3))))


@given(patterns())
def test_round_trip(pattern: Pattern) -> None:
    back = read_plaintext(write_plaintext(pattern))
    assert back.cells.shape == pattern.cells.shape
    assert np.array_equal(back.cells, pattern.cells)
    assert (back.name, back.comments) == (pattern.name, pattern.comments)
