"""``fanout pipeline`` as a user runs it: a real process against a real aiohttp server.

The server (``tests.pipeline._server``) runs on loopback in a thread of its own, through an
anyio blocking portal, for the whole module; each test runs ``python -m service pipeline``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, final

import pytest
from anyio.from_thread import start_blocking_portal
from PIL import Image

from tests.cli._command import environment
from tests.fixtures import PASSWORD
from tests.pipeline._server import Served, jpeg, serve

ON_LOOPBACK: Final = {"FANOUT_PIPELINE__ALLOW_PRIVATE": "true"}
ITEM_KEYS: Final = [
    "source", "dest", "name", "width", "height", "bytes", "attempts", "stage", "error"
]  # fmt: skip
SUMMARY: Final = "{n} of {total} images delivered to {dest} in "


@final
@dataclass(frozen=True, slots=True)
class Run:
    code: int
    out: str
    err: str

    def json(self) -> dict[str, Any]:
        assert self.out.count("\n") == 1, self.out
        manifest: dict[str, Any] = json.loads(self.out)
        return manifest


def fanout(*argv: str | Path, stdin: str = "", env: Mapping[str, str] = ON_LOOPBACK) -> Run:
    """``python -m service ARGV`` with stdin a pipe holding ``stdin``; never a traceback."""
    done = subprocess.run(
        [sys.executable, "-m", "service", *map(str, argv)],
        input=stdin.encode(),
        capture_output=True,
        env=environment(env),
        timeout=60,
        check=False,
    )
    err = done.stderr.decode()
    assert "Traceback" not in err
    return Run(done.returncode, done.stdout.decode(), err)


def assert_one_line_error(run: Run, code: int, fragment: str) -> None:
    assert run.code == code, run.err
    assert run.out == ""
    assert run.err.startswith("fanout: error: "), run.err
    assert run.err.count("\n") == 1, run.err
    assert fragment in run.err


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    with (
        start_blocking_portal() as portal,
        portal.wrap_async_context_manager(serve()) as running,
    ):
        yield running


@pytest.fixture
def dest(tmp_path: Path) -> Path:
    path = tmp_path / "out"
    path.mkdir()
    return path


def photos(served: Served, *names: str) -> list[str]:
    return [served.url(f"/img/{name}.jpg") for name in names]


def sources_file(tmp_path: Path, sources: list[str]) -> Path:
    path = tmp_path / "sources.txt"
    lines = ["# photos for the test", "", *(f"  {source}  " for source in sources), ""]
    path.write_text("\n".join(lines))
    return path


def test_urls_become_images_of_the_size_and_format_asked(
    served: Served, tmp_path: Path, dest: Path
) -> None:
    sources = photos(served, "a", "b", "c")
    run = fanout(
        "pipeline", sources_file(tmp_path, sources), "--dest", dest, "--size", "64x64",
        "--format", "jpeg", "--workers", "download=2,resize=1,upload=2",
    )  # fmt: skip
    assert run.code == 0, run.err
    assert run.out == ""
    assert run.err.startswith(SUMMARY.format(n=3, total=3, dest=dest)), run.err
    assert run.err.count("\n") == 1
    made = sorted(dest.iterdir())
    assert [path.suffix for path in made] == [".jpeg"] * 3
    for path in made:
        with Image.open(path) as image:
            assert image.format == "JPEG"
            assert max(image.size) == 64  # fit: the longer side fills the box


def test_json_lists_every_item_in_input_order(served: Served, tmp_path: Path, dest: Path) -> None:
    sources = [*photos(served, "d", "e"), served.url("/missing.jpg"), *photos(served, "f")]
    run = fanout("pipeline", sources_file(tmp_path, sources), "--dest", dest, "--json")
    assert run.code == 1, run.err
    assert run.err == ""
    manifest = run.json()
    assert list(manifest) == ["succeeded", "failed", "total", "elapsed_s", "engine", "items"]
    assert (manifest["succeeded"], manifest["failed"], manifest["total"]) == (3, 1, 4)
    assert manifest["engine"] == "async"
    items = manifest["items"]
    assert [item["source"] for item in items] == sources
    assert all(list(item) == ITEM_KEYS for item in items)
    missing = items.pop(2)
    assert missing["stage"] == "download"
    assert "404" in missing["error"]
    assert [missing[key] for key in ("dest", "name", "width", "height", "bytes")] == [None] * 5
    for item in items:
        assert (item["stage"], item["error"]) == (None, None)
        assert item["attempts"] == {"download": 1, "resize": 1, "upload": 1}
        path = Path(item["dest"])
        assert path.parent == dest
        assert path.name.endswith(".webp")
        assert item["bytes"] == path.stat().st_size
        with Image.open(path) as image:
            assert image.format == "WEBP"
            assert image.size == (item["width"], item["height"])
            assert max(image.size) == 256


def test_a_failure_exits_1_and_names_the_source(served: Served, tmp_path: Path, dest: Path) -> None:
    missing = served.url("/missing.jpg")
    sources = [*photos(served, "g"), missing]
    run = fanout("pipeline", sources_file(tmp_path, sources), "--dest", dest)
    assert run.code == 1
    failed, summary = run.err.splitlines()
    assert failed.startswith(f"FAILED {missing}: download: HTTP 404")
    assert summary.startswith(SUMMARY.format(n=1, total=2, dest=dest))
    assert summary.endswith("; 1 failed")


def test_sources_from_stdin_and_puts_to_a_url(served: Served) -> None:
    sources = photos(served, "h", "i")
    run = fanout("pipeline", "-", "--dest", served.url("/upload"), stdin="\n".join(sources))
    assert run.code == 0, run.err
    uploaded = {name for name in served.uploads if name.startswith(("h-", "i-"))}
    assert len(uploaded) == 2
    assert all(name.endswith(".webp") for name in uploaded)


def test_local_paths_as_sources(tmp_path: Path, dest: Path) -> None:
    paths = [tmp_path / f"local-{n}.jpg" for n in range(2)]
    for n, path in enumerate(paths):
        path.write_bytes(jpeg(100, 50, seed=n))
    run = fanout(
        "pipeline", sources_file(tmp_path, list(map(str, paths))), "--dest", dest,
        "--size", "40x40", "--mode", "cover", "--format", "png", "--json", env={},
    )  # fmt: skip
    assert run.code == 0, run.err
    for item in run.json()["items"]:
        with Image.open(item["dest"]) as image:
            assert (image.format, image.size) == ("PNG", (40, 40))


def test_both_engines_give_the_same_items(served: Served, tmp_path: Path, dest: Path) -> None:
    sources = [*photos(served, "j", "k"), served.url("/page.html"), served.url("/missing.jpg")]
    listed = sources_file(tmp_path, sources)
    runs = [
        fanout("pipeline", listed, "--dest", dest, "--engine", engine, "--json")
        for engine in ("async", "threads")
    ]
    assert [run.code for run in runs] == [1, 1]
    coroutines, threads = (run.json() for run in runs)
    assert (coroutines["engine"], threads["engine"]) == ("async", "threads")
    assert coroutines["items"] == threads["items"]


@pytest.mark.parametrize(
    ("workers", "fragment"),
    [
        ("fetch=3", "unknown stage 'fetch': choose download, resize, encrypt, upload"),
        ("resize=0", "resize=0: N must be 1 to 1024"),
        ("upload=1025", "upload=1025: N must be 1 to 1024"),
        ("download=x", "download=x: N must be 1 to 1024"),
        ("download", "'download' is not STAGE=N"),
        ("resize=1,resize=2", "resize is given twice"),
    ],
)
def test_bad_workers_exit_2(tmp_path: Path, dest: Path, workers: str, fragment: str) -> None:
    listed = sources_file(tmp_path, ["http://example.com/a.jpg"])
    run = fanout("pipeline", listed, "--dest", dest, "--workers", workers)
    assert_one_line_error(run, 2, f"--workers {workers!r}: {fragment}")


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["--size", "big"], "size 'big': expected WIDTHxHEIGHT"),
        (["--size", "0x10"], "size '0x10': width and height must be 1 to 16384"),
        (["--password-file", "secret"], "--password-file goes with --encrypt"),
    ],
)
def test_bad_options_exit_2(tmp_path: Path, dest: Path, argv: list[str], fragment: str) -> None:
    listed = sources_file(tmp_path, ["http://example.com/a.jpg"])
    assert_one_line_error(fanout("pipeline", listed, "--dest", dest, *argv), 2, fragment)


def test_bad_sources_and_destinations_exit_2(tmp_path: Path, dest: Path) -> None:
    listed = sources_file(tmp_path, ["http://example.com/a.jpg"])
    nowhere = tmp_path / "nowhere"
    run = fanout("pipeline", listed, "--dest", nowhere)
    assert_one_line_error(run, 2, f"--dest {str(nowhere)!r}: no such directory")
    run = fanout("pipeline", tmp_path / "absent.txt", "--dest", dest)
    assert_one_line_error(run, 2, "absent.txt' does not exist")
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing but a comment\n\n")
    assert_one_line_error(fanout("pipeline", empty, "--dest", dest), 2, "no sources in")
    assert_one_line_error(fanout("pipeline", "-", "--dest", dest), 2, "no sources in stdin")


def test_encrypted_images_decrypt_into_images(served: Served, tmp_path: Path, dest: Path) -> None:
    crypto = {"FANOUT_PASSWORD": PASSWORD, "FANOUT_CRYPTO__PBKDF2_ITERATIONS": "1000"}
    listed = sources_file(tmp_path, photos(served, "l", "m"))
    run = fanout("pipeline", listed, "--dest", dest, "--encrypt", env=ON_LOOPBACK | crypto)
    assert run.code == 0, run.err
    sealed = sorted(dest.iterdir())
    assert len(sealed) == 2
    assert all(path.name.endswith(".webp.enc") for path in sealed)
    for path in sealed:
        opened = tmp_path / path.name.removesuffix(".enc")
        undone = fanout("decrypt", path, "-o", opened, "--iterations", "1000", env=crypto)
        assert undone.code == 0, undone.err
        with Image.open(opened) as image:
            assert image.format == "WEBP"


def test_loopback_is_refused_unless_allow_private(served: Served, tmp_path: Path) -> None:
    local = served.url("/img/n.jpg")
    run = fanout("pipeline", sources_file(tmp_path, [local]), "--dest", tmp_path, env={})
    assert run.code == 1
    assert run.err.startswith(f"FAILED {local}: download: ")
    assert "allow_private" in run.err.splitlines()[0]


def test_help_explains_allow_private_and_the_exit_status() -> None:
    run = fanout("pipeline", "--help")
    assert run.code == 0
    text = " ".join(run.out.split())
    assert "[pipeline] allow_private is true" in text
    assert "0 when every image was delivered, 1 when any failed, 2 for bad usage" in text


def wait_for(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 30
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_ctrl_c_exits_130_and_leaves_no_file(served: Served, tmp_path: Path, dest: Path) -> None:
    stalled = served.url("/slow/ctrl-c.jpg")
    listed = sources_file(tmp_path, [*photos(served, "o"), stalled])
    argv = [sys.executable, "-m", "service", "pipeline", str(listed), "--dest", str(dest)]
    with subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=environment(ON_LOOPBACK | {"FANOUT_PIPELINE__STAGE_TIMEOUT_S": "60"}),
    ) as process:
        wait_for(lambda: "/slow/ctrl-c.jpg" in served.hits)
        wait_for(lambda: any(dest.iterdir()))  # the good photo is delivered in full
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    assert process.returncode == 130
    assert out == b""
    # click puts a newline first (after the ^C a terminal echoes), as for fanout encrypt.
    assert err.decode().strip() == "fanout: error: interrupted"
    assert [path.suffix for path in dest.iterdir()] == [".webp"]  # and nothing partial


def test_a_terminal_gets_a_live_board(served: Served, tmp_path: Path, dest: Path) -> None:
    listed = sources_file(tmp_path, photos(served, "p", "q"))
    controller, terminal = os.openpty()
    argv = [sys.executable, "-m", "service", "pipeline", str(listed), "--dest", str(dest)]
    with subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=terminal,
        env=environment(ON_LOOPBACK | {"FANOUT_PIPELINE__DOWNLOAD_WORKERS": "1"}),
    ) as process:
        os.close(terminal)
        seen = read_until_closed(controller)
        code = process.wait(timeout=30)
    assert code == 0, seen
    assert "in flight" in seen  # the board was drawn...
    assert "2 of 2 images delivered to" in seen  # ...and the summary printed after it


def read_until_closed(controller: int) -> str:
    seen = bytearray()
    try:
        while piece := os.read(controller, 4096):
            seen += piece
    except OSError:  # EIO: the other end is closed
        pass
    finally:
        os.close(controller)
    return seen.decode(errors="replace")
