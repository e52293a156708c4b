"""Life engines: the same step, from the readable oracle to the compiled bit-sliced kernel.

Every engine steps a 0/1 array on a grid whose edges wrap (``wrap_x``/``wrap_y``) or see dead
cells; all give identical results. ``auto`` picks the fastest for the request.
"""

from __future__ import annotations

from typing import Final, Literal, Protocol, TypeAlias

from service.errors import InvalidInput
from service.life.engines.bitpacked import BitpackedEngine
from service.life.engines.reference import ReferenceEngine
from service.life.engines.vectorised import NumpyEngine
from service.life.pattern import Cells
from service.life.rules import Rule

__all__ = ["ENGINE_NAMES", "Engine", "EngineName", "choose_engine", "get_engine"]

EngineName: TypeAlias = Literal["auto", "reference", "numpy", "bitpacked"]
ENGINE_NAMES: Final[tuple[EngineName, ...]] = ("auto", "reference", "numpy", "bitpacked")

# Under this many cell-updates, loading the compiled kernel takes longer than numpy needs.
_SMALL_WORK: Final = 50_000_000


class Engine(Protocol):
    """Steps cells ``generations`` times under ``rule``."""

    @property
    def name(self) -> str: ...

    @property
    def rate_hint(self) -> float:
        """Rough cell-updates per second, to size progress batches."""
        ...

    def advance(
        self, cells: Cells, rule: Rule, generations: int, *, wrap_x: bool, wrap_y: bool
    ) -> Cells: ...


def get_engine(name: str, *, workers: int | None = None) -> Engine:
    """The engine called ``name`` (not ``auto``: see :func:`choose_engine`)."""
    if name == "reference":
        return ReferenceEngine()
    if name == "numpy":
        return NumpyEngine()
    if name == "bitpacked":
        return BitpackedEngine(workers=workers)
    raise InvalidInput(f"unknown engine {name!r}: choose one of {', '.join(ENGINE_NAMES)}")


def choose_engine(name: str, *, cells: int, generations: int, workers: int | None = None) -> Engine:
    """Resolve ``auto`` by the size of the work; any other name as :func:`get_engine`."""
    if name != "auto":
        return get_engine(name, workers=workers)
    if cells * generations < _SMALL_WORK:
        return NumpyEngine()
    return BitpackedEngine(workers=workers)
