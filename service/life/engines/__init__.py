"""Life engines: the same step, from the readable oracle to the compiled bit-sliced kernel.

Every engine steps a grid whose edges wrap (``wrap_x``/``wrap_y``) or see dead cells, on 0/1
arrays (:class:`Engine`) or on packed rows (:data:`WORD_STEPS`, what the fan-out strategies
hand to their workers). All give identical results.
"""

from __future__ import annotations

from typing import Final, Literal, Protocol, TypeAlias

from service.errors import InvalidInput
from service.life.bits import Words
from service.life.engines import bitpacked, reference, vectorised
from service.life.engines.bitpacked import BitpackedEngine
from service.life.engines.reference import ReferenceEngine
from service.life.engines.vectorised import NumpyEngine
from service.life.pattern import Cells
from service.life.rules import Rule

__all__ = [
    "ENGINE_NAMES",
    "WORD_STEPS",
    "Engine",
    "EngineName",
    "WordStep",
    "choose_engine",
    "get_engine",
]

EngineName: TypeAlias = Literal["auto", "reference", "numpy", "bitpacked"]
ENGINE_NAMES: Final[tuple[EngineName, ...]] = ("auto", "reference", "numpy", "bitpacked")


class WordStep(Protocol):
    """Steps packed rows; ``shrink`` marks halo ends whose rows the caller will discard."""

    def __call__(
        self,
        words: Words,
        width: int,
        generations: int,
        wrap_x: bool,
        wrap_y: bool,
        rule: Rule,
        *,
        shrink: tuple[bool, bool] = ...,
    ) -> Words: ...


WORD_STEPS: Final[dict[str, WordStep]] = {
    "reference": reference.step_words,
    "numpy": vectorised.advance_words,
    "bitpacked": bitpacked.step_words,
}

# Under this many cell-updates, loading the compiled kernel takes longer than numpy needs.
_SMALL_WORK: Final = 50_000_000


class Engine(Protocol):
    """Steps cells ``generations`` times under ``rule``."""

    @property
    def name(self) -> str: ...

    @property
    def rate_hint(self) -> float:
        """Rough cell-updates per second on one core, to size progress rounds."""
        ...

    def advance(
        self, cells: Cells, rule: Rule, generations: int, *, wrap_x: bool, wrap_y: bool
    ) -> Cells: ...


def get_engine(name: str) -> Engine:
    """The engine called ``name`` (not ``auto``: see :func:`choose_engine`)."""
    if name == "reference":
        return ReferenceEngine()
    if name == "numpy":
        return NumpyEngine()
    if name == "bitpacked":
        return BitpackedEngine()
    raise InvalidInput(f"unknown engine {name!r}: choose one of {', '.join(ENGINE_NAMES)}")


def choose_engine(name: str, *, cells: int, generations: int, per_cell: bool = False) -> str:
    """Resolve ``auto`` by the request: per-cell chunks need the reference engine, small work
    numpy (no compiled-kernel load), anything else the bit-packed kernel."""
    if name not in ENGINE_NAMES:
        raise InvalidInput(f"unknown engine {name!r}: choose one of {', '.join(ENGINE_NAMES)}")
    if name != "auto":
        return name
    if per_cell:
        return "reference"
    return "numpy" if cells * generations < _SMALL_WORK else "bitpacked"
