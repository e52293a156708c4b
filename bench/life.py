"""The Life engine benchmark: each engine on a 2048x2048 torus soup, beside Golly's bgolly.

``bgolly`` (Debian package ``golly``) runs the same soup, written as RLE with the rule
``B3/S23:T2048,2048``, in the same run when it is installed. Its time is the run of
``-m 100`` less the run of ``-m 0``, so that reading the 4-million-cell file is not charged
to it; the final populations are compared, so both computed the same thing.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Final, final

import numpy as np

from bench._machine import machine
from service.config import LifeSettings
from service.life.formats import format_pattern
from service.life.pattern import Pattern
from service.life.rules import CONWAY, Rule
from service.life.run import run_life
from service.life.soup import Soup
from service.life.topology import Topology

__all__ = ["Row", "machine", "main"]

SIDE: Final = 2048
GENERATIONS: Final = 100
DENSITY: Final = 0.35
REFERENCE_SIDE: Final = 128  # the per-cell oracle would take an hour on the full soup
REPEATS: Final = 5


@final
@dataclass(frozen=True, slots=True)
class Row:
    """One line of the table."""

    name: str
    side: int
    seconds: float
    population: int

    @property
    def rate(self) -> float:
        return self.side * self.side * GENERATIONS / self.seconds


def _ours(engine: str, soup: Pattern, side: int) -> Row:
    torus = Topology("torus", side, side)
    limits = LifeSettings()
    run_life(soup, 1, limits=limits, topology=torus, engine=engine)  # load / compile
    best = float("inf")
    population = 0
    for _ in range(REPEATS if engine != "reference" else 1):
        result = run_life(soup, GENERATIONS, limits=limits, topology=torus, engine=engine)
        best = min(best, result.elapsed_s)
        population = result.population
    return Row(engine, side, best, population)


def _bgolly(soup: Pattern, rule: Rule) -> Row | None:
    binary = shutil.which("bgolly")
    if binary is None:
        return None
    torus = Pattern(soup.cells, rule=rule, topology=Topology("torus", SIDE, SIDE))
    with tempfile.TemporaryDirectory() as tmp:
        source, out = Path(tmp, "soup.rle"), Path(tmp, "out.rle")
        source.write_text(format_pattern(torus, "rle"), encoding="utf-8")

        def timed(generations: int) -> float:
            started = time.perf_counter()
            argv = [binary, "-q", "-q", "-m", str(generations), "-o", str(out), str(source)]
            subprocess.run(argv, check=True, capture_output=True)
            return time.perf_counter() - started

        load = min(timed(0) for _ in range(REPEATS))
        total = min(timed(GENERATIONS) for _ in range(REPEATS))
        from service.life.formats import load_pattern

        population = load_pattern(out, max_cells=SIDE * SIDE * 2).population
    return Row("bgolly (QuickLife)", SIDE, total - load, population)


def _si(rate: float) -> str:
    for scale, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if rate >= scale:
            return f"{rate / scale:.2f} {unit}"
    return f"{rate:.0f}"


def main() -> None:
    """Run the benchmark and print its table (Markdown, for README)."""
    soup = Soup(SIDE, SIDE, DENSITY, seed=2048).pattern(max_cells=SIDE * SIDE)
    small = Pattern(np.ascontiguousarray(soup.cells[:REFERENCE_SIDE, :REFERENCE_SIDE]))
    rows = [_ours("reference", small, REFERENCE_SIDE)]
    rows += [_ours(name, soup, SIDE) for name in ("numpy", "bitpacked")]
    golly = _bgolly(soup, CONWAY)
    print(
        f"Life engines: {SIDE}x{SIDE} torus, {DENSITY:.0%} random soup, {GENERATIONS} generations"
    )
    print(machine())
    print()
    print("| engine | grid | seconds | cell-updates/s | vs bgolly |")
    print("|---|---|---:|---:|---:|")
    for row in [*rows, *([golly] if golly else [])]:
        ratio = f"{row.rate / golly.rate:.2f}x" if golly else "n/a"
        print(f"| {row.name} | {row.side}² | {row.seconds:.4f} | {_si(row.rate)} | {ratio} |")
    if golly is None:
        print("\nbgolly not found: apt-get install golly to compare with Golly in the same run.")
    elif golly.population != rows[-1].population:
        print(f"\n!! populations differ: bgolly {golly.population}, ours {rows[-1].population}")
        sys.exit(1)
    else:
        print(
            f"\nFinal population {golly.population}: bgolly and the numpy/bitpacked engines agree."
        )


if __name__ == "__main__":
    main()
