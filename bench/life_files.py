"""Life from files: the formats' speed, and ``fanout life`` as a whole process beside bgolly.

``python -m bench.life_files`` prints two tables for a 2048x2048 torus soup (density 0.35,
seed 7, about 2.9 MB of RLE):

- reading and writing it as RLE, ``.cells`` and Life 1.06 / 1.05 ``.lif`` (this service
  reads ``.lif`` and does not write it), in MB of text per second, best of ``REPEATS``;
- ``fanout life soup.rle -g N -o out.rle`` against ``bgolly -m N -o out.rle soup.rle``
  (Debian's ``golly``), each a new process, the sides in turns, best of ``REPEATS`` for
  N = 100 and one run each for N = 10,000, where bgolly is stopped after ``PATIENCE_S``
  (it had not finished after 9 minutes here): its time is then a lower bound, and so is the
  ratio. The ratio is bgolly's time over ours (above 1 ours is faster); the final
  populations are compared when both finished.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Final

import numpy as np

from bench._machine import machine
from service.life.formats import read_pattern
from service.life.pattern import Pattern
from service.life.plaintext import write_plaintext
from service.life.rle import write_rle
from service.life.rules import CONWAY
from service.life.soup import Soup
from service.life.topology import Topology

__all__ = ["main"]

SIDE: Final = 2048
GENERATIONS: Final = (100, 10_000)
REPEATS: Final = 5
PATIENCE_S: Final = 120.0
_POPULATION: Final = re.compile(rb"^(\d+): ([\d,]+)", re.MULTILINE)


def _soup() -> Pattern:
    soup = Soup(SIDE, SIDE, 0.35, 7).pattern(max_cells=SIDE * SIDE)
    torus = Topology("torus", SIDE, SIDE)
    return Pattern(soup.cells, rule=CONWAY, topology=torus, name="soup")


def _best(call: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(REPEATS):
        started = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - started)
    return best


def _formats(soup: Pattern) -> list[str]:
    ys, xs = np.nonzero(soup.cells)
    life_106 = "#Life 1.06\n" + "".join(
        f"{x} {y}\n" for x, y in zip(xs.tolist(), ys.tolist(), strict=True)
    )
    rows = np.where(soup.cells != 0, ord("*"), ord(".")).astype(np.uint8)
    life_105 = "#Life 1.05\n#P 0 0\n" + "".join(f"{row.tobytes().decode()}\n" for row in rows)
    lines = []
    for name, text, writer in (
        ("RLE", write_rle(soup), write_rle),
        (".cells", write_plaintext(soup), write_plaintext),
        ("Life 1.06", life_106, None),
        ("Life 1.05", life_105, None),
    ):
        megabytes = len(text) / 1e6
        read_s = _best(lambda text=text: read_pattern(text))  # type: ignore[misc]  # bound per loop
        written = "-"
        if writer is not None:
            write_s = _best(lambda writer=writer: writer(soup))  # type: ignore[misc]  # bound per loop
            written = f"{megabytes / write_s:.1f} MB/s"
        lines.append(f"| {name} | {megabytes:.2f} MB | {megabytes / read_s:.1f} MB/s | {written} |")
    return lines


def _fanout() -> list[str]:
    found = shutil.which("fanout", path=str(Path(sys.executable).parent))
    return [found] if found else [sys.executable, "-m", "service"]


def _run(argv: list[str], *, patience_s: float | None = None) -> tuple[float, bytes | None]:
    """Wall time and output; None for the output when stopped after ``patience_s``."""
    environ = {key: value for key, value in os.environ.items() if not key.startswith("FANOUT_")}
    started = time.perf_counter()
    try:
        done = subprocess.run(
            argv, check=True, capture_output=True, env=environ, timeout=patience_s
        )
    except subprocess.TimeoutExpired:
        return time.perf_counter() - started, None
    return time.perf_counter() - started, done.stdout + done.stderr


def _commands(soup_path: Path, root: Path, bgolly: str) -> Iterator[str]:
    for generations in GENERATIONS:
        ours_out, theirs_out = root / "ours.rle", root / "theirs.rle"
        ours_argv = [*_fanout(), "life", str(soup_path), "-g", str(generations)]
        ours_argv += ["-o", str(ours_out), "--json"]
        theirs_argv = [bgolly, "-m", str(generations), "-o", str(theirs_out), str(soup_path)]
        ours_s: list[float] = []
        theirs_s: list[float] = []
        ours_said: bytes | None = b""
        theirs_said: bytes | None = b""
        for _ in range(REPEATS if generations <= 1000 else 1):
            ours_out.unlink(missing_ok=True)
            seconds, ours_said = _run(ours_argv)
            ours_s.append(seconds)
            theirs_out.unlink(missing_ok=True)
            seconds, theirs_said = _run(theirs_argv, patience_s=PATIENCE_S)
            theirs_s.append(seconds)
        assert ours_said is not None
        ours_population = json.loads(ours_said.splitlines()[-1])["population"]
        ours, theirs = min(ours_s), min(theirs_s)
        if theirs_said is None:
            check = f"bgolly stopped after {PATIENCE_S:g} s ({ours_population:,} ours)"
            yield (
                f"| -g {generations:,} | {ours:.3f} s | > {theirs:.1f} s | > {theirs / ours:.0f}x "
                f"| - | {check} |"
            )
            continue
        counted = _POPULATION.findall(theirs_said)
        theirs_population = int(counted[-1][1].replace(b",", b"")) if counted else None
        check = "same population" if ours_population == theirs_population else "populations differ"
        medians = f"{statistics.median(ours_s):.2f} / {statistics.median(theirs_s):.2f}"
        yield (
            f"| -g {generations:,} | {ours:.3f} s | {theirs:.3f} s | {theirs / ours:.2f}x "
            f"| {medians} | {check} ({ours_population:,}) |"
        )


def main() -> None:
    soup = _soup()
    print(f"Measured {machine()}.")
    print(f"A {SIDE}x{SIDE} torus soup, density 0.35, seed 7; best of {REPEATS}.\n")
    print("| format | size | read | write |")
    print("|---|---:|---:|---:|")
    for line in _formats(soup):
        print(line)
    bgolly = shutil.which("bgolly")
    if bgolly is None:
        print("\nbgolly is not installed (Debian's golly): no whole-process table.")
        return
    with tempfile.TemporaryDirectory(prefix="fanout-bench-") as tmp:
        root = Path(tmp)
        soup_path = root / "soup.rle"
        soup_path.write_text(write_rle(soup))
        print("\nWhole processes, the sides in turns (median ours / bgolly):\n")
        print("| `fanout life soup.rle -o out.rle` | ours | bgolly | ratio | medians | check |")
        print("|---|---:|---:|---:|---:|---|")
        for line in _commands(soup_path, root, bgolly):
            print(line, flush=True)


if __name__ == "__main__":
    main()
