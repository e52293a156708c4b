"""The ``fanout`` command: results, output files, and one-line errors with the right exit code."""

from __future__ import annotations

import gc
import io
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, final

import click
import numpy as np
import pytest
from PIL import Image

from service.cli import main
from service.cli.app import COMMANDS as LISTED
from service.cli.app import cli
from service.config import LifeSettings
from service.life.formats import load_pattern, read_pattern
from service.life.run import run_life
from service.life.soup import parse_soup
from service.life.topology import Topology
from tests.fixtures import GLIDER_CELLS, GLIDER_PATH

GLIDER: Final = str(GLIDER_PATH)
COMMANDS: Final = ["life", "serve", "encrypt", "decrypt", "pipeline", "bench", "jobs"]


@final
@dataclass(frozen=True, slots=True)
class Outcome:
    code: int
    out: str
    err: str

    def json(self) -> dict[str, Any]:
        assert self.out.count("\n") == 1, self.out
        summary: dict[str, Any] = json.loads(self.out)
        return summary


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No FANOUT_* variable of the machine running the tests reaches the command."""
    for name in list(os.environ):
        if name.startswith("FANOUT_"):
            monkeypatch.delenv(name)


def fanout(capsys: pytest.CaptureFixture[str], *argv: str) -> Outcome:
    with pytest.raises(SystemExit) as exited:
        main(list(argv))
    out, err = capsys.readouterr()
    code = exited.value.code
    assert isinstance(code, int), code
    return Outcome(code, out, err)


def assert_one_line_error(outcome: Outcome, code: int, fragment: str) -> None:
    assert outcome.code == code
    assert outcome.out == ""
    assert outcome.err.startswith("fanout: error: "), outcome.err
    assert outcome.err.count("\n") == 1, outcome.err
    assert "Traceback" not in outcome.err
    assert fragment in outcome.err


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


# --- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["life", GLIDER, "--rule", "B9/S23"], "neighbour count of 9"),
        (["life", GLIDER, "--rule", "B3/S23:K8,8"], "Klein bottles"),
        (["life", "/no/such/pattern.rle"], "/no/such/pattern.rle: cannot read the file"),
        (["life", GLIDER, "--size", "0x4"], "size '0x4' must be at least 1x1"),
        (["life", GLIDER, "--size", "big"], "size 'big' is not WxH"),
        (["life", GLIDER, "--topology", "infinite", "--size", "8x8"], "--size applies"),
        (["life", GLIDER, "--topology", "torus", "--size", "2x2"], "give a larger --size"),
        (["life", GLIDER, "-g", "-1"], "life.max_generations"),
        (["life", GLIDER, "--random", "8x8"], "but not both"),
        (["life"], "give a PATTERN file"),
        (["life", "--random", "8x8:2"], "density '2' must be 0-1"),
        (["life", "--random", "64x64", "--topology", "torus", "--size", "1x1"], "larger --size"),
        (["life", GLIDER, "-o", "out.txt"], "the name must end in .rle, .cells, .png, .gif"),
        (["life", GLIDER, "--rule", "B0/S"], "choose the torus or plane topology"),
        (["life", GLIDER, "--chunk", "cell", "--engine", "numpy"], "needs --engine reference"),
        (["life", GLIDER, "--chunk", "cell", "--chunk-rows", "3"], "not both"),
        (
            ["life", GLIDER, "--strategy", "queue", "--workers", "65"],
            "--workers 65: must be 1 to 64 (life.max_workers)",
        ),
        (
            [
                "life",
                "--random",
                "20x20:0.5:1",
                "-g",
                "1",
                "--strategy",
                "threads",
                "--chunk",
                "cell",
            ],
            "past life.max_threads = 256",
        ),
    ],
)
def test_bad_input_exits_2_with_one_line(
    capsys: pytest.CaptureFixture[str], argv: list[str], fragment: str
) -> None:
    assert_one_line_error(fanout(capsys, *argv), 2, fragment)


def test_a_bad_pattern_names_the_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "bad.rle"
    path.write_text("x = 3, y = 3\nbo$2bq!\n", encoding="utf-8")
    assert_one_line_error(fanout(capsys, "life", str(path)), 2, f"{path}:2:")


def test_max_generations_from_the_environment(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FANOUT_LIFE__MAX_GENERATIONS", "10")
    assert fanout(capsys, "life", GLIDER, "-g", "10", "--json").code == 0
    outcome = fanout(capsys, "life", GLIDER, "-g", "11", "--json")
    assert_one_line_error(outcome, 2, "generations = 11: must be 0 to 10 (life.max_generations)")


def test_max_cells_from_the_environment(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FANOUT_LIFE__MAX_CELLS", "100")
    outcome = fanout(capsys, "life", "--random", "11x10:0.5:1")
    assert_one_line_error(outcome, 2, "past life.max_cells = 100")


def test_a_bad_environment_variable_is_a_config_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FANOUT_LIFE__MAX_CELLS", "lots")
    assert_one_line_error(fanout(capsys, "life", GLIDER), 2, "FANOUT_LIFE__MAX_CELLS")


def test_a_missing_config_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    outcome = fanout(capsys, "--config", str(missing), "life", GLIDER)
    assert_one_line_error(outcome, 2, "config file not found")


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["life", GLIDER, "-g", "many"], "Invalid value for '-g'"),
        (["life", GLIDER, "--strategy", "warp"], "Invalid value for '--strategy'"),
        (["life", GLIDER, "--workers", "0"], "Invalid value for '--workers'"),
        (["life", GLIDER, "--chunk", "band"], "Invalid value for '--chunk'"),
        (["life", GLIDER, "--chunk-rows", "0"], "Invalid value for '--chunk-rows'"),
        (["life", GLIDER, "--no-such-flag"], "No such option '--no-such-flag'"),
    ],
)
def test_usage_errors_exit_2_in_one_line(
    capsys: pytest.CaptureFixture[str], argv: list[str], fragment: str
) -> None:
    outcome = fanout(capsys, *argv)
    assert_one_line_error(outcome, 2, fragment)
    assert outcome.err.rstrip("\n").endswith("(see 'fanout life --help')")


def test_an_unknown_command_is_a_one_line_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    outcome = fanout(capsys, "conway")
    assert_one_line_error(outcome, 2, "No such command 'conway'")
    assert outcome.err.rstrip("\n").endswith("(see 'fanout --help')")


def test_serve_refuses_a_public_address_without_a_token(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FANOUT_TOKEN", raising=False)
    collecting = gc.get_threshold()
    outcome = fanout(capsys, "serve", "--host", "0.0.0.0", "--port", "0")
    assert outcome.code == 2
    assert "token" in outcome.err
    assert gc.get_threshold() == collecting  # the daemon's own thresholds end with it


# --- help -----------------------------------------------------------------------------------


@pytest.mark.parametrize("argv", [["--help"], ["-h"], *([c, "--help"] for c in COMMANDS)])
def test_help_exits_0(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    outcome = fanout(capsys, *argv)
    assert outcome.code == 0
    assert outcome.out.startswith("Usage: fanout")
    assert outcome.err == ""


def test_top_level_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    out = fanout(capsys, "--help").out
    for command in COMMANDS:
        assert f"  {command} " in out


def test_each_listed_summary_is_its_commands_first_line() -> None:
    """``fanout --help`` prints the summaries without importing the commands: they must agree."""
    context = click.Context(cli)
    for name, (_, summary) in LISTED.items():
        command = cli.get_command(context, name)
        assert command is not None
        assert (command.help or "").split("\n", 1)[0] == summary, name


@pytest.mark.parametrize(
    ("argv", "unwanted"),
    [
        (["--help"], ("service.life", "service.crypto", "service.api", "aiohttp", "numpy")),
        (["encrypt", "--help"], ("service.life", "service.api", "aiohttp", "numpy")),
    ],
)
def test_a_command_imports_only_what_it_runs(argv: list[str], unwanted: tuple[str, ...]) -> None:
    probe = (
        "import sys\n"
        "from service.cli import main\n"
        "try:\n"
        f"    main({argv!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(sorted(m for m in sys.modules\n"
        "    if m.split('.')[0] in ('service', 'aiohttp', 'numpy')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    loaded = done.stdout.strip().splitlines()[-1]
    for module in unwanted:
        assert f"'{module}'" not in loaded, loaded
        assert f"'{module}." not in loaded, loaded


# --- the real process -----------------------------------------------------------------------


def python_m_service(*argv: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("FANOUT_")}
    return subprocess.run(
        [sys.executable, "-m", "service", *argv],
        capture_output=True,
        text=True,
        env=environ,
        timeout=60,
        check=False,
    )


def test_python_m_service_runs_life() -> None:
    done = python_m_service("life", GLIDER, "-g", "4", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["population"] == 5


def test_python_m_service_reports_errors_in_one_line() -> None:
    done = python_m_service("life", GLIDER, "--rule", "B9/S23")
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.startswith("fanout: error: rule 'B9/S23'")
    assert done.stderr.count("\n") == 1


def test_an_animation_with_too_many_frames_is_refused_before_the_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "long.gif"
    outcome = fanout(capsys, "life", GLIDER, "-g", "5000", "--every", "1", "-o", str(out))
    assert_one_line_error(outcome, 2, "-g 5000 --every 1 makes 5001 frames")
    assert "--every 6 or more" in outcome.err
    assert not out.exists()
