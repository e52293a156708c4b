"""What each way of fanning out costs: two tables, the book's setting and the big one.

1. The book's setting: a 16x16 torus, per-cell chunks, the reference engine. Each strategy runs
   in a fresh interpreter, so the peak RSS it reports is its own (VmHWM: a process pool's
   workers are not counted).
2. The big setting: 2048x2048 and 4096x4096 torus soups in bands, the bit-packed kernel. Each
   strategy with every core against itself with one worker.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import asdict, dataclass
from typing import Final, final

from bench._machine import machine
from service.config import LifeSettings
from service.life.fanout import Chunking
from service.life.run import LifeResult, run_life
from service.life.soup import Soup
from service.life.strategies import STRATEGY_NAMES
from service.life.topology import Topology
from service.system.memory import status_mib

__all__ = ["main"]

STRATEGIES: Final = tuple(name for name in STRATEGY_NAMES if name != "auto")
SMALL: Final = 16
SMALL_GENERATIONS: Final = 20
BIG: Final = ((2048, 1000), (4096, 250))
REPEATS: Final = 9


@final
@dataclass(frozen=True, slots=True)
class Small:
    """One strategy in the book's setting."""

    strategy: str
    seconds_per_generation: float
    peak_threads: int
    threads_started: int
    peak_rss_mib: float


def _run(side: int, generations: int, **options: object) -> LifeResult:
    soup = Soup(side, side, 0.35, seed=side).pattern(max_cells=side * side)
    limits = LifeSettings(max_threads=SMALL * SMALL)
    return run_life(
        soup, generations, limits=limits, topology=Topology("torus", side, side), **options
    )


def small_one(strategy: str) -> Small:
    """The book's setting for one strategy, in this process (see :func:`_small`)."""
    options = {"engine": "reference", "strategy": strategy, "chunking": Chunking(cells=True)}
    _run(SMALL, 1, **options)  # start-up: imports, a process pool's fork server
    result = _run(SMALL, SMALL_GENERATIONS, **options)
    seconds = result.elapsed_s / SMALL_GENERATIONS
    return Small(
        strategy, seconds, result.peak_threads, result.threads_started, status_mib("VmHWM")
    )


def _small(strategy: str) -> Small:
    argv = [sys.executable, "-m", "bench.life_strategies", "--one", strategy]
    out = subprocess.run(argv, check=True, capture_output=True, text=True).stdout
    return Small(**json.loads(out))


def _rate(side: int, generations: int, strategy: str, workers: int) -> float:
    options = {"engine": "bitpacked", "strategy": strategy, "workers": workers}
    _run(side, 1, **options)
    best = min(_run(side, generations, **options).elapsed_s for _ in range(REPEATS))
    return side * side * generations / best


def main() -> None:
    """Print both tables (Markdown, for README)."""
    print(machine())
    print(f"\n1. The book's setting: {SMALL}x{SMALL} torus, a chunk per cell, reference engine\n")
    print("| strategy | ms / gen. | vs serial | threads started | peak threads | peak RSS (MiB) |")
    print("|---|---:|---:|---:|---:|---:|")
    rows = [_small(name) for name in STRATEGIES]
    serial = rows[0].seconds_per_generation
    for row in rows:
        print(
            f"| {row.strategy} | {row.seconds_per_generation * 1e3:.1f} | "
            f"{row.seconds_per_generation / serial:.2f}x | {row.threads_started} | "
            f"{row.peak_threads} | "
            f"{row.peak_rss_mib:.0f} |"
        )
    cores = os.cpu_count() or 1
    print(f"\n2. The big setting: torus soups in bands, bitpacked engine, {cores} workers vs 1\n")
    print("| strategy | grid | 1 worker | " + f"{cores} workers | speed-up |")
    print("|---|---|---:|---:|---:|")
    for side, generations in BIG:
        for name in STRATEGIES[1:]:
            one = _rate(side, generations, name, 1)
            many = _rate(side, generations, name, cores)
            print(
                f"| {name} | {side}² | {one / 1e9:.1f} G | {many / 1e9:.1f} G | {many / one:.2f}x |"
            )
    print("\ncell-updates per second; the speed-up is each strategy's against itself.")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--one":
        print(json.dumps(asdict(small_one(sys.argv[2]))))
    else:
        main()
