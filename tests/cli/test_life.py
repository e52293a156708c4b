"""``fanout life``: results, output files, and a run refused before it starts."""

from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import Final

import numpy as np
import pytest
from PIL import Image

from service.config import LifeSettings
from service.life.formats import load_pattern, read_pattern
from service.life.run import run_life
from service.life.soup import parse_soup
from service.life.topology import Topology
from tests.cli._command import assert_one_line_error, fanout
from tests.fixtures import GLIDER_CELLS, GLIDER_PATH

GLIDER: Final = str(GLIDER_PATH)


# --- results --------------------------------------------------------------------------------


def test_life_json(capsys: pytest.CaptureFixture[str]) -> None:
    outcome = fanout(capsys, "life", GLIDER, "-g", "4", "--json")
    assert outcome.code == 0
    assert outcome.err == ""
    summary = outcome.json()
    assert summary["population"] == 5
    assert summary["generation"] == 4
    assert summary["bbox"] == [1, 1, 3, 3]
    assert summary["rule"] == "B3/S23"
    assert summary["topology"] == "infinite"
    assert (summary["strategy"], summary["workers"], summary["chunks"]) == ("serial", 1, 1)
    assert summary["peak_threads"] >= 1
    assert "seed" not in summary


def test_life_plain_report(capsys: pytest.CaptureFixture[str]) -> None:
    outcome = fanout(capsys, "life", GLIDER, "-g", "4")
    assert outcome.code == 0
    lines = outcome.out.splitlines()
    assert "generation: 4" in lines
    assert "population: 5" in lines
    assert "bbox: [1, 1, 3, 3]" in lines


def test_life_random_soup_on_a_torus(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["life", "--random", "64x64:0.3:1", "--topology", "torus", "-g", "10", "--json"]
    summary = fanout(capsys, *argv).json()
    soup = parse_soup("64x64:0.3:1").pattern(max_cells=64 * 64)
    expected = run_life(soup, 10, limits=LifeSettings(), topology=Topology("torus", 64, 64))
    assert summary["seed"] == 1
    assert summary["topology"] == "torus"
    assert summary["rule"] == "B3/S23:T64,64"
    assert (summary["width"], summary["height"]) == (64, 64)
    assert summary["generation"] == 10
    assert summary["population"] == expected.population > 0


def test_life_random_soup_reports_the_seed_it_drew(capsys: pytest.CaptureFixture[str]) -> None:
    summary = fanout(capsys, "life", "--random", "16x16", "--json").json()
    assert isinstance(summary["seed"], int)


def test_life_rule_with_a_suffix_and_an_engine(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["life", GLIDER, "--rule", "B36/S23:T16,12", "--engine", "bitpacked", "--workers", "2"]
    summary = fanout(capsys, *argv, "-g", "48", "--json").json()
    assert summary["rule"] == "B36/S23:T16,12"
    assert summary["engine"] == "bitpacked"
    assert summary["population"] == 5


def test_life_fans_out_over_queue_workers(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["life", "--random", "32x32:0.4:1", "--topology", "torus", "-g", "10"]
    fanned = ["--strategy", "queue", "--workers", "3", "--chunk-rows", "8", "--json"]
    outcome = fanout(capsys, *argv, *fanned)
    assert outcome.code == 0, outcome.err
    summary = outcome.json()
    soup = parse_soup("32x32:0.4:1").pattern(max_cells=32 * 32)
    torus = Topology("torus", 32, 32)
    expected = run_life(soup, 10, limits=LifeSettings(), topology=torus, engine="reference")
    assert summary["population"] == expected.population
    assert summary["strategy"] == "queue"
    assert summary["workers"] == 3
    assert summary["chunks"] == 4  # 32 rows in bands of 8
    assert summary["peak_threads"] >= 4  # the three workers and this thread


@pytest.mark.parametrize("strategy", ["serial", "threads", "threadpool", "coroutines"])
def test_life_takes_every_strategy(capsys: pytest.CaptureFixture[str], strategy: str) -> None:
    argv = ["life", GLIDER, "--topology", "torus", "--size", "12x12", "-g", "8"]
    summary = fanout(capsys, *argv, "--strategy", strategy, "--workers", "2", "--json").json()
    assert summary["strategy"] == strategy
    assert summary["workers"] == (1 if strategy == "serial" else 2)
    assert summary["chunks"] == (1 if strategy == "serial" else 2)
    assert summary["population"] == 5


def test_life_chunks_by_cell_with_the_reference_engine(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["life", GLIDER, "--topology", "torus", "--size", "8x6", "-g", "4", "--chunk", "cell"]
    summary = fanout(capsys, *argv, "--engine", "reference", "--json").json()
    assert summary["engine"] == "reference"
    assert summary["chunks"] == 48  # a chunk a cell
    assert summary["population"] == 5
    assert summary["bbox"] == [0, 0, 3, 3]  # Golly's coordinates: from (-1, -1), moved 1, 1


def test_life_chunks_by_cell_picks_the_reference_engine(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["life", GLIDER, "--topology", "plane", "--size", "6x6", "-g", "2", "--chunk", "cell"]
    summary = fanout(capsys, *argv, "--json").json()
    assert (summary["engine"], summary["strategy"], summary["chunks"]) == (
        "reference",
        "serial",
        36,
    )


def test_life_reads_stdin(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    data = Path(GLIDER).read_bytes()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    summary = fanout(capsys, "life", "-", "-g", "8", "--json").json()
    assert summary["bbox"] == [2, 2, 3, 3]


def test_config_file_sets_the_default_engine(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[life]\ndefault_engine = "reference"\n', encoding="utf-8")
    summary = fanout(capsys, "--config", str(config), "life", GLIDER, "-g", "1", "--json").json()
    assert summary["engine"] == "reference"


# --- output files ---------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".rle", ".cells"])
def test_life_writes_a_pattern_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, suffix: str
) -> None:
    path = tmp_path / f"out{suffix}"
    assert fanout(capsys, "life", GLIDER, "-g", "4", "-o", str(path), "--json").code == 0
    pattern = load_pattern(path)
    assert pattern.cells.tolist() == GLIDER_CELLS
    if suffix == ".rle":
        assert (pattern.x, pattern.y, pattern.generation) == (1, 1, 4)


def test_life_writes_a_bounded_grid_whole(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "torus.rle"
    argv = ["life", GLIDER, "--topology", "torus", "--size", "8x6", "-g", "4", "-o", str(path)]
    assert fanout(capsys, *argv).code == 0
    pattern = load_pattern(path)
    assert pattern.topology == Topology("torus", 8, 6)
    assert pattern.cells.shape == (6, 8)
    assert pattern.population == 5


def test_life_writes_a_png(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "out.png"
    argv = ["life", GLIDER, "-g", "4", "-o", str(path), "--cell-size", "5", "--json"]
    assert fanout(capsys, *argv).code == 0
    with Image.open(path) as image:
        assert image.format == "PNG"
        assert image.size == (15, 15)
        pixels = np.asarray(image)
    # Live cells are black: the middle pixel of each cell tells its state.
    assert (pixels[2::5, 2::5] == 0).astype(int).tolist() == GLIDER_CELLS


def test_life_writes_a_gif_frame_every_k_generations(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "out.gif"
    argv = ["life", GLIDER, "-g", "8", "--every", "2", "-o", str(path), "--json"]
    assert fanout(capsys, *argv).code == 0
    with Image.open(path) as image:
        assert image.format == "GIF"
        assert getattr(image, "n_frames", 1) == 5  # generations 0, 2, 4, 6, 8


def test_life_dash_prints_rle(capsys: pytest.CaptureFixture[str]) -> None:
    outcome = fanout(capsys, "life", GLIDER, "-g", "4", "-o", "-")
    assert outcome.code == 0
    assert read_pattern(outcome.out).cells.tolist() == GLIDER_CELLS
    assert "population: 5" in outcome.err.splitlines()  # the report keeps stdout clean


# --- refused before the run ------------------------------------------------------------


def test_an_animation_with_too_many_frames_is_refused_before_the_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "long.gif"
    outcome = fanout(capsys, "life", GLIDER, "-g", "5000", "--every", "1", "-o", str(out))
    assert_one_line_error(outcome, 2, "-g 5000 --every 1 makes 5001 frames")
    assert "--every 6 or more" in outcome.err
    assert not out.exists()
