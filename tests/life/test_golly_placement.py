"""Bounded grids hold a pattern where Golly puts it: every generation's population, and the
final bounding box, equal what Golly's own ``bgolly`` gives for the same file.

``make test`` installs Debian's ``golly``; without ``bgolly`` these tests fail, not skip.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Final

import numpy as np
import pytest

from service.config import LifeSettings
from service.errors import LimitExceeded
from service.life.formats import read_pattern
from service.life.pattern import Cells, Pattern
from service.life.rle import write_rle
from service.life.run import run_life
from service.life.topology import Topology
from service.life.universe import place

GENERATIONS: Final = 60
_POPULATION_LINE: Final = re.compile(r"^(\d+): ([\d,]+)$", re.MULTILINE)  # 3,028
_HEADER: Final = re.compile(r"^x = (\d+), y = (\d+)", re.MULTILINE)


@pytest.fixture(scope="module")
def bgolly() -> str:
    found = shutil.which("bgolly")
    if found is None:
        pytest.fail("bgolly is missing: `make test` installs Debian's golly package")
    return found


def soup(width: int, height: int, seed: int) -> Cells:
    cells = np.random.default_rng(seed).random((height, width)) < 0.45
    return cells.astype(np.uint8)


def golly_run(bgolly: str, path: Path) -> tuple[list[int], tuple[int, int]]:
    """Golly's population at every generation, and the final bounding box's size."""
    out = path.with_suffix(".out.rle")
    run = subprocess.run(
        [bgolly, "-m", str(GENERATIONS), "-o", str(out), str(path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    populations = [int(pop.replace(",", "")) for _, pop in _POPULATION_LINE.findall(run.stdout)]
    header = _HEADER.search(out.read_text())
    assert header is not None
    return populations, (int(header.group(1)), int(header.group(2)))


def our_run(text: str | bytes) -> tuple[list[int], tuple[int, int]]:
    populations: list[int] = []

    def record(generation: int, pattern: Pattern) -> None:
        populations.append(pattern.population)

    result = run_life(
        read_pattern(text),
        GENERATIONS,
        limits=LifeSettings(),
        engine="numpy",
        every=1,
        snapshot=record,
    )
    box = result.bbox
    return populations, (0, 0) if box is None else (box[2], box[3])


GRIDS: Final = [("P", 30, 30), ("P", 31, 29), ("P", 40, 24), ("P", 17, 20), ("T", 21, 16)]
PLACINGS: Final = ["centred", "origin", "top-left", "bottom-right", "left-edge"]


def position(placing: str, grid: tuple[int, int], size: tuple[int, int]) -> tuple[int, int] | None:
    """A ``Pos=`` that keeps the pattern inside the grid (None: no Pos line)."""
    (width, height), (w, h) = grid, size
    left, top = -(width // 2), -(height // 2)
    return {
        "centred": None,
        "origin": (0, 0),
        "top-left": (left, top),
        "bottom-right": (left + width - w, top + height - h),
        "left-edge": (left, -1),
    }[placing]


@pytest.mark.parametrize(("kind", "width", "height"), GRIDS)
@pytest.mark.parametrize("placing", PLACINGS)
@pytest.mark.parametrize(("pattern_w", "pattern_h"), [(3, 3), (6, 5), (7, 8)])
def test_populations_and_box_equal_bgolly(
    bgolly: str,
    tmp_path: Path,
    kind: str,
    width: int,
    height: int,
    placing: str,
    pattern_w: int,
    pattern_h: int,
) -> None:
    pos = position(placing, (width, height), (pattern_w, pattern_h))
    cells = soup(pattern_w, pattern_h, seed=width * 31 + pattern_w)
    header = f"x = {pattern_w}, y = {pattern_h}, rule = B3/S23:{kind}{width},{height}"
    lines = [] if pos is None else [f"#CXRLE Pos={pos[0]},{pos[1]}"]
    text = "\n".join([*lines, header, *data_lines(cells)]) + "\n"
    path = tmp_path / "p.rle"
    path.write_text(text)
    assert our_run(text) == golly_run(bgolly, path)


def data_lines(cells: Cells) -> list[str]:
    written = write_rle(Pattern(cells)).splitlines()
    start = next(i for i, line in enumerate(written) if line.startswith("x = "))
    return written[start + 1 :]


@pytest.mark.parametrize(("width", "height"), [(30, 30), (25, 19)])
def test_a_header_larger_than_the_grid_puts_the_pattern_at_its_corner(
    bgolly: str, tmp_path: Path, width: int, height: int
) -> None:
    cells = np.zeros((50, 50), dtype=np.uint8)
    cells[1:6, 2:9] = soup(7, 5, seed=3)
    header = f"x = 50, y = 50, rule = B3/S23:P{width},{height}"
    text = "\n".join([header, *data_lines(cells)]) + "\n"
    path = tmp_path / "big.rle"
    path.write_text(text)
    assert our_run(text) == golly_run(bgolly, path)


def test_an_rle_without_a_header_starts_at_the_origin(bgolly: str, tmp_path: Path) -> None:
    cells = soup(6, 6, seed=11)
    text = "\n".join(["#r 23/3:P30,30", *data_lines(cells)]) + "\n"
    assert read_pattern(text).anchor == "given"
    path = tmp_path / "bare.rle"
    path.write_text(text)
    assert our_run(text) == golly_run(bgolly, path)


def test_the_grid_origin_is_gollys_top_left_corner() -> None:
    placed = place(read_pattern("x = 3, y = 3\nb2o$2o$bo!\n"), Topology("plane", 30, 31))
    assert (placed.x, placed.y) == (-15, -15)
    assert placed.bbox() == (-1, -1, 3, 3)


def test_a_position_outside_the_grid_is_refused_by_name() -> None:
    # Golly drops such cells without a word; losing part of a pattern is refused here.
    pattern = read_pattern("#CXRLE Pos=20,0\nx = 3, y = 3\nb2o$2o$bo!\n")
    with pytest.raises(LimitExceeded, match=r"x = 20\.\.22.*spans x = -5\.\.4"):
        place(pattern, Topology("torus", 10, 10))


def test_a_grid_the_size_of_the_pattern_holds_it_whole() -> None:
    pattern = read_pattern("#Life 1.06\n10 10\n11 10\n12 10\n")
    placed = place(pattern, Topology("torus", 3, 1))
    assert placed.population == 3
    assert (placed.x, placed.y) == (-1, 0)


GOLLY_PATTERNS: Final = Path("/usr/share/golly/Patterns")


@pytest.mark.parametrize(
    "name",
    [
        "Life/Methuselahs/acorn.lif",  # a bare #P
        "Life/Methuselahs/rabbits.lif",  # a bare #P
        "Life-Like/persian-rugs.lif",  # #R B234, which Golly reads as B234/S
        "Life/Guns/infinite-Corderships-gun.rle.gz",  # gzip
    ],
)
def test_files_of_gollys_collection_run_as_bgolly_runs_them(bgolly: str, name: str) -> None:
    path = GOLLY_PATTERNS / name
    if not path.exists():
        pytest.fail(f"{path} is missing: `make test` installs Debian's golly package")
    populations, box = golly_run(bgolly, path)
    ours, our_box = our_run(path.read_bytes())
    assert (ours[-1], our_box) == (populations[-1], box)  # bgolly prints only some generations
