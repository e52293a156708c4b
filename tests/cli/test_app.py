"""The ``fanout`` command: one-line errors with the right exit code, help, the real process."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Final

import click
import pytest

from service.cli.app import COMMANDS as LISTED
from service.cli.app import cli
from tests.cli._command import assert_one_line_error, fanout
from tests.fixtures import GLIDER_PATH

GLIDER: Final = str(GLIDER_PATH)
COMMANDS: Final = ["life", "serve", "encrypt", "decrypt", "pipeline", "bench", "jobs"]


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
