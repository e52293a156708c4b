"""Random soups: ``WxH[:DENSITY[:SEED]]``, the usual way to start a Life experiment."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import final

import numpy as np

from service.errors import InvalidInput, LimitExceeded
from service.life.pattern import Pattern
from service.life.topology import parse_size

__all__ = ["Soup", "parse_soup"]

_FORM = "WxH[:DENSITY[:SEED]], e.g. 512x512:0.35:42 (density 0-1 or a percentage)"


@final
@dataclass(frozen=True, slots=True)
class Soup:
    """A random soup's recipe: the same recipe always gives the same cells."""

    width: int
    height: int
    density: float = 0.5
    seed: int = 0

    def __str__(self) -> str:
        return f"{self.width}x{self.height}:{self.density:g}:{self.seed}"

    def pattern(self, *, max_cells: int) -> Pattern:
        cells = self.width * self.height
        if cells > max_cells:
            raise LimitExceeded(
                f"a {self.width}x{self.height} soup has {cells} cells, past life.max_cells = "
                f"{max_cells}"
            )
        rng = np.random.default_rng(self.seed)
        grid = (rng.random((self.height, self.width), dtype=np.float32) < self.density).astype(
            np.uint8
        )
        return Pattern(grid, comments=(f"random soup {self}",))


def parse_soup(text: str) -> Soup:
    """Parse ``WxH[:DENSITY[:SEED]]``; without a seed one is drawn (and shown in the result)."""
    size, *rest = text.strip().split(":")
    if len(rest) > 2:
        raise InvalidInput(f"random soup {text!r}: write {_FORM}")
    try:
        width, height = parse_size(size)
    except InvalidInput as exc:
        raise InvalidInput(f"random soup {text!r}: {exc}; the form is {_FORM}") from None
    density = _density(rest[0], text) if rest and rest[0] else 0.5
    seed = _seed(rest[1], text) if len(rest) == 2 else secrets.randbits(32)
    return Soup(width, height, density, seed)


def _density(part: str, text: str) -> float:
    try:
        value = float(part[:-1]) / 100 if part.endswith("%") else float(part)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:
        raise InvalidInput(f"random soup {text!r}: density {part!r} must be 0-1 or 0%-100%")
    return value


def _seed(part: str, text: str) -> int:
    if not part.isdigit():
        raise InvalidInput(f"random soup {text!r}: seed {part!r} must be a whole number >= 0")
    return int(part)
