"""Where a Life universe ends: an infinite plane, a torus, or a bounded plane of dead cells."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal, TypeAlias, final

from service.errors import InvalidInput

__all__ = ["KINDS", "Kind", "Topology", "parse_size"]

Kind: TypeAlias = Literal["infinite", "torus", "plane"]
KINDS: Final[tuple[Kind, ...]] = ("infinite", "torus", "plane")


@final
@dataclass(frozen=True, slots=True)
class Topology:
    """The shape of a universe; bounded kinds carry their size in cells."""

    kind: Kind = "infinite"
    width: int = 0
    height: int = 0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise InvalidInput(f"unknown topology {self.kind!r}: choose one of {', '.join(KINDS)}")
        if self.bounded and (self.width < 1 or self.height < 1):
            raise InvalidInput(
                f"a {self.kind} needs a size of at least 1x1 cells, got {self.width}x{self.height}"
            )

    @property
    def bounded(self) -> bool:
        """True for a torus or a bounded plane, whose size never changes."""
        return self.kind != "infinite"

    @property
    def wraps(self) -> bool:
        """True when the edges join (a torus)."""
        return self.kind == "torus"

    @property
    def suffix(self) -> str:
        """Golly's bounded-grid rule suffix, e.g. ``:T64,48``; empty for an infinite universe."""
        if not self.bounded:
            return ""
        letter = "T" if self.kind == "torus" else "P"
        return f":{letter}{self.width},{self.height}"


def parse_size(text: str) -> tuple[int, int]:
    """Parse ``WxH`` (or ``N`` for a square) into positive integers."""
    cleaned = text.strip().lower()
    parts = cleaned.split("x") if "x" in cleaned else [cleaned, cleaned]
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        raise InvalidInput(f"size {text!r} is not WxH: write e.g. 64x48, or 64 for 64x64")
    width, height = int(parts[0]), int(parts[1])
    if width < 1 or height < 1:
        raise InvalidInput(f"size {text!r} must be at least 1x1")
    return width, height
