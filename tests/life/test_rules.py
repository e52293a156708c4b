"""B/S rules in every form Golly accepts, their bounded-grid suffixes, and what is refused."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.errors import InvalidInput, RuleError
from service.life.rules import CONWAY, Rule, parse_rule
from service.life.topology import Topology

HIGHLIFE = Rule(frozenset({3, 6}), frozenset({2, 3}))
SEEDS = Rule(frozenset({2}), frozenset())
counts = st.frozensets(st.integers(0, 8))


def rule(text: str) -> Rule:
    parsed, topology = parse_rule(text)
    assert topology is None
    return parsed


def refusal(text: str) -> str:
    with pytest.raises(RuleError) as caught:
        parse_rule(text)
    return str(caught.value)


# --- accepted forms -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["B3/S23", "b3s23", "B3S23", "b3/s23", "S23/B3", "s23b3", "23/3", " B3 / S23 ", "b 3 S 2 3"],
)
def test_conway_in_every_form(text: str) -> None:
    assert rule(text) == CONWAY


@pytest.mark.parametrize("text", ["B36/S23", "b36s23", "S23/B36", "23/36", "B63/S32"])
def test_highlife_in_every_form(text: str) -> None:
    assert rule(text) == HIGHLIFE


@pytest.mark.parametrize("text", ["/2", "B2/S", "b2s", "S/B2"])
def test_empty_survival_is_allowed(text: str) -> None:
    assert rule(text) == SEEDS


def test_empty_birth_and_survival() -> None:
    assert rule("B/S") == rule("/") == Rule(frozenset(), frozenset())


def test_b0_and_s8_are_counts_like_any_other() -> None:
    parsed = rule("B0/S8")
    assert parsed.birth == {0}
    assert parsed.survival == {8}


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("b3s23", "B3/S23"),
        ("23/36", "B36/S23"),
        ("S32/B63", "B36/S23"),
        ("/2", "B2/S"),
        ("B/S", "B/S"),
        ("B8765/S43210", "B5678/S01234"),
    ],
)
def test_str_is_canonical(text: str, canonical: str) -> None:
    assert str(rule(text)) == canonical


@given(counts, counts)
def test_str_parses_back_in_every_form(birth: frozenset[int], survival: frozenset[int]) -> None:
    original = Rule(birth, survival)
    b = "".join(map(str, sorted(birth)))
    s = "".join(map(str, sorted(survival)))
    assert rule(str(original)) == original
    assert rule(str(original).lower().replace("/", "")) == original
    assert rule(f"S{s}/B{b}") == original
    assert rule(f"{s}/{b}") == original


@given(counts, counts, st.integers(0, 8), st.booleans())
def test_next_state_and_masks(
    birth: frozenset[int], survival: frozenset[int], neighbours: int, alive: bool
) -> None:
    parsed = Rule(birth, survival)
    expected = neighbours in (survival if alive else birth)
    assert parsed.next_state(alive, neighbours) is expected
    mask = parsed.survival_mask if alive else parsed.birth_mask
    assert bool(mask >> neighbours & 1) is expected


def test_rule_refuses_counts_out_of_range() -> None:
    with pytest.raises(RuleError, match="neighbour count 9 is out of range: counts are 0 to 8"):
        Rule(frozenset({9}), frozenset())
    with pytest.raises(RuleError, match="neighbour count -1"):
        Rule(frozenset(), frozenset({-1}))


# --- bounded-grid suffixes ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "topology"),
    [
        ("B3/S23:T64,48", Topology("torus", 64, 48)),
        ("B3/S23:P64,48", Topology("plane", 64, 48)),
        ("B3/S23:T64", Topology("torus", 64, 64)),
        ("B3/S23:P7", Topology("plane", 7, 7)),
        ("b3s23:t64,48", Topology("torus", 64, 48)),
        ("23/3:T1,1", Topology("torus", 1, 1)),
        (" B3/S23 : T 64 , 48 ", Topology("torus", 64, 48)),
    ],
)
def test_suffix_gives_the_topology(text: str, topology: Topology) -> None:
    assert parse_rule(text) == (CONWAY, topology)


@pytest.mark.parametrize(
    "topology", [Topology("torus", 64, 48), Topology("plane", 3, 5), Topology("torus", 1, 1)]
)
def test_topology_suffix_parses_back(topology: Topology) -> None:
    assert parse_rule(f"{HIGHLIFE}{topology.suffix}") == (HIGHLIFE, topology)


def test_infinite_topology_has_no_suffix() -> None:
    assert Topology().suffix == ""


# --- refusals -------------------------------------------------------------------------------


def test_rule_errors_are_invalid_input() -> None:
    assert issubclass(RuleError, InvalidInput)


@pytest.mark.parametrize("text", ["B39/S23", "B3/S239", "239/3", "S9/B3"])
def test_digit_nine_is_refused(text: str) -> None:
    message = refusal(text)
    assert repr(text) in message
    assert "neighbour count of 9: counts are 0 to 8" in message


@pytest.mark.parametrize("text", ["B33/S23", "B3/S223", "233/3"])
def test_repeated_count_is_refused(text: str) -> None:
    assert "repeats a neighbour count: name each count once" in refusal(text)


@pytest.mark.parametrize(("text", "letter"), [("B3/B23", "B"), ("S23/S3", "S"), ("b3b2", "B")])
def test_repeated_letter_is_refused(text: str, letter: str) -> None:
    message = refusal(text)
    assert f"names {letter} twice" in message
    assert "B3/S23, b3s23, S23/B3 or 23/3" in message


@pytest.mark.parametrize("text", ["", "life", "S23", "B3/S23/B4", "3/3/3", "B3x/S23", "Bx"])
def test_garbage_is_refused(text: str) -> None:
    message = refusal(text)
    assert f"rule {text!r} is not B/S notation" in message
    assert "B3/S23, b3s23, S23/B3 or 23/3" in message


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("B3/S23:K64,48", "Klein bottles (:K) are not supported"),
        ("B3/S23:K64*,48", "Klein bottles (:K) are not supported"),
        ("B3/S23:S64", "spheres (:S) are not supported"),
        ("B3/S23:C64,48", "cross-surfaces (:C) are not supported"),
        ("B3/S23:T64+1,48", "shifted or twisted edges are not supported"),
        ("B3/S23:T64,48*", "shifted or twisted edges are not supported"),
        ("B3/S23:Q64", "suffix ':q64' is not understood"),
        ("B3/S23:T", "suffix ':t' is not understood"),
        ("B3/S23:", "suffix ':' is not understood"),
    ],
)
def test_unsupported_suffixes_are_refused(text: str, reason: str) -> None:
    message = refusal(text)
    assert repr(text) in message
    assert reason in message
    assert "use :TW,H (torus) or :PW,H (bounded plane)" in message


@pytest.mark.parametrize("text", ["B3/S23:T0,4", "B3/S23:T4,0", "B3/S23:P0", "B3/S23:T0,0"])
def test_zero_side_is_refused(text: str) -> None:
    assert "an unbounded side (size 0) is not supported" in refusal(text)


@pytest.mark.parametrize("text", ["B2/S34H", "B2/S34V", "b2s34v", "23/3h"])
def test_other_neighbourhoods_are_refused(text: str) -> None:
    message = refusal(text)
    assert "non-Moore neighbourhood" in message
    assert "only the 8-cell Moore neighbourhood is supported" in message


def test_a_bad_rule_with_a_suffix_reports_the_rule() -> None:
    assert "not B/S notation" in refusal("B3/Q23:T64,48")


def test_births_alone_mean_nothing_survives_as_golly_reads_them() -> None:
    assert parse_rule("B234") == (Rule(frozenset({2, 3, 4}), frozenset()), None)
