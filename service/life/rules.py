"""Life-like rules in B/S notation, parsed the way Golly reads them.

Accepted forms (case-insensitive, spaces ignored): ``B3/S23``, ``B3S23``, ``S23/B3`` and the
older survival-first ``23/3``. A Golly bounded-grid suffix may follow: ``:T64,48`` (torus),
``:P64,48`` (bounded plane), ``:T64`` for 64x64.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, final

from service.errors import RuleError
from service.life.topology import Topology

__all__ = ["CONWAY", "Rule", "parse_rule"]

_FORMS: Final = "B3/S23, b3s23, S23/B3 or 23/3, with an optional :T64,48 or :P64,48 suffix"
_LETTER_FORM: Final = re.compile(r"([bs])([0-9]*)/?([bs])([0-9]*)")
_NUMBER_FORM: Final = re.compile(r"([0-9]*)/([0-9]*)")
_BIRTHS_ALONE: Final = re.compile(r"b([0-9]*)")
_SUFFIX: Final = re.compile(r"([tp])([0-9]+)(?:,([0-9]+))?")


@final
@dataclass(frozen=True, slots=True)
class Rule:
    """A Life-like rule: the neighbour counts that give birth and that let a cell survive."""

    birth: frozenset[int]
    survival: frozenset[int]

    def __post_init__(self) -> None:
        for count in self.birth | self.survival:
            if not 0 <= count <= 8:
                raise RuleError(f"neighbour count {count} is out of range: counts are 0 to 8")

    def __str__(self) -> str:
        digits = "".join
        return f"B{digits(map(str, sorted(self.birth)))}/S{digits(map(str, sorted(self.survival)))}"

    @property
    def birth_mask(self) -> int:
        """Bit n is set when a dead cell with n live neighbours is born."""
        return sum(1 << n for n in self.birth)

    @property
    def survival_mask(self) -> int:
        """Bit n is set when a live cell with n live neighbours survives."""
        return sum(1 << n for n in self.survival)

    def next_state(self, alive: bool, neighbours: int) -> bool:
        """The state of a cell in the next generation."""
        return neighbours in (self.survival if alive else self.birth)


CONWAY: Final = Rule(frozenset({3}), frozenset({2, 3}))


def parse_rule(text: str) -> tuple[Rule, Topology | None]:
    """Parse a rule with its optional bounded-grid suffix; the topology is None without one."""
    compact = "".join(text.split()).lower()
    body, colon, suffix = compact.partition(":")
    rule = _parse_body(body, text)
    return rule, _parse_suffix(suffix, text) if colon else None


def _parse_body(body: str, original: str) -> Rule:
    if match := _LETTER_FORM.fullmatch(body):
        first, first_digits, second, second_digits = match.groups()
        if first == second:
            raise RuleError(f"rule {original!r} names {first.upper()} twice: write {_FORMS}")
        sets = {first: first_digits, second: second_digits}
        return Rule(_counts(sets["b"], original), _counts(sets["s"], original))
    if match := _NUMBER_FORM.fullmatch(body):
        survival, birth = match.groups()
        return Rule(_counts(birth, original), _counts(survival, original))
    if match := _BIRTHS_ALONE.fullmatch(body):
        # Golly reads "B234" as B234/S: nothing survives (Life-Like/persian-rugs.lif).
        return Rule(_counts(match.group(1), original), frozenset())
    if body.endswith(("v", "h")):
        raise RuleError(
            f"rule {original!r} asks for a non-Moore neighbourhood: only the 8-cell Moore "
            f"neighbourhood is supported; write {_FORMS}"
        )
    raise RuleError(f"rule {original!r} is not B/S notation: write {_FORMS}")


def _counts(digits: str, original: str) -> frozenset[int]:
    counts = [int(d) for d in digits]
    if any(c > 8 for c in counts):
        raise RuleError(f"rule {original!r} has a neighbour count of 9: counts are 0 to 8")
    if len(set(counts)) != len(counts):
        raise RuleError(f"rule {original!r} repeats a neighbour count: name each count once")
    return frozenset(counts)


def _parse_suffix(suffix: str, original: str) -> Topology:
    match = _SUFFIX.fullmatch(suffix)
    if match is None:
        kind = suffix[:1].upper()
        what = {"K": "Klein bottles", "C": "cross-surfaces", "S": "spheres"}.get(kind)
        if what is not None:
            reason = f"{what} (:{kind}) are not supported"
        elif "+" in suffix or "*" in suffix:
            reason = "shifted or twisted edges are not supported"
        else:
            reason = f"suffix ':{suffix}' is not understood"
        raise RuleError(f"rule {original!r}: {reason}; use :TW,H (torus) or :PW,H (bounded plane)")
    letter, width_text, height_text = match.groups()
    width = int(width_text)
    height = int(height_text) if height_text is not None else width
    if width == 0 or height == 0:
        raise RuleError(
            f"rule {original!r}: an unbounded side (size 0) is not supported; give both sides, "
            "or drop the suffix for an infinite universe"
        )
    return Topology("torus" if letter == "t" else "plane", width, height)
