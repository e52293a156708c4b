"""``fanout encrypt`` and ``fanout decrypt`` as a user runs them: a real process, a real openssl.

Every run goes through :func:`fanout`, which also checks that no password it was given shows
up in anything the command printed.
"""

from __future__ import annotations

import hashlib
import os
import re
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Final, final

import pytest

from tests._sealed import sealed
from tests.cli._command import environment, one_json_line
from tests.fixtures import PASSWORD

WITH_PASSWORD: Final = {"FANOUT_PASSWORD": PASSWORD}
ITERATIONS: Final = ("--iterations", "1000")
PLAINTEXT: Final = bytes(range(256)) * 1200  # 300 KiB: more than one 256 KiB chunk
SUMMARY_KEYS: Final = [
    "operation",
    "digest",
    "digest_algorithm",
    "cipher",
    "iterations",
    "bytes_in",
    "bytes_out",
    "elapsed_s",
    "runner",
]
REPORT: Final = re.compile(
    r"(en|de)crypted [\d,]+ bytes -> [\d,]+ bytes \(aes-256-cbc, PBKDF2 1,000 iterations\) "
    r"in \d+\.\d\d s"
)
NO_PASSWORD: Final = "no password: use --password-file F or set FANOUT_PASSWORD"


@final
@dataclass(frozen=True, slots=True)
class Outcome:
    code: int
    out: bytes
    err: str

    def json(self) -> dict[str, Any]:
        return one_json_line(self.out.decode())


def assert_no_secret(printed: bytes, environ: Mapping[str, str]) -> None:
    """Neither the test password nor the one this run was given was printed."""
    for secret in (PASSWORD, environ.get("FANOUT_PASSWORD", PASSWORD)):
        assert secret.encode() not in printed


def fanout(*argv: str | Path, stdin: bytes = b"", env: Mapping[str, str] | None = None) -> Outcome:
    """``python -m service ARGV`` with stdin a pipe (never a terminal) holding ``stdin``."""
    environ = environment(env)
    done = subprocess.run(
        [sys.executable, "-m", "service", *map(str, argv)],
        input=stdin,
        capture_output=True,
        env=environ,
        timeout=60,
        check=False,
    )
    assert_no_secret(done.stdout + done.stderr, environ)
    err = done.stderr.decode()
    assert "Traceback" not in err
    return Outcome(done.returncode, done.stdout, err)


def assert_one_line_error(outcome: Outcome, code: int, fragment: str) -> None:
    assert outcome.code == code, outcome.err
    assert outcome.out == b""
    assert outcome.err.startswith("fanout: error: "), outcome.err
    assert outcome.err.count("\n") == 1, outcome.err
    assert fragment in outcome.err


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def plain(tmp_path: Path) -> Path:
    path = tmp_path / "plain.bin"
    path.write_bytes(PLAINTEXT)
    return path


@pytest.fixture
def ciphertext(tmp_path: Path, plain: Path) -> Path:
    path = tmp_path / "plain.bin.enc"
    done = fanout("encrypt", plain, "-o", path, *ITERATIONS, env=WITH_PASSWORD)
    assert done.code == 0, done.err
    return path


def test_round_trip_through_files(tmp_path: Path, plain: Path) -> None:
    sealed, opened = tmp_path / "sealed", tmp_path / "opened"
    encrypted = fanout("encrypt", plain, "-o", sealed, *ITERATIONS, "--json", env=WITH_PASSWORD)
    assert encrypted.code == 0, encrypted.err
    assert encrypted.err == ""
    decrypted = fanout("decrypt", sealed, "-o", opened, *ITERATIONS, "--json", env=WITH_PASSWORD)
    assert decrypted.code == 0, decrypted.err
    assert opened.read_bytes() == PLAINTEXT
    there, back = encrypted.json(), decrypted.json()
    assert list(there) == list(back) == SUMMARY_KEYS
    assert there["digest"] == back["digest"] == sha256(sealed)
    assert (there["operation"], back["operation"]) == ("encrypt", "decrypt")
    assert there["bytes_in"] == back["bytes_out"] == len(PLAINTEXT)
    assert there["bytes_out"] == back["bytes_in"] == sealed.stat().st_size
    for summary in (there, back):
        assert summary["cipher"] == "aes-256-cbc"
        assert summary["digest_algorithm"] == "sha256"
        assert summary["iterations"] == 1000
        assert summary["runner"] == "async"


def test_plain_report_puts_the_digest_on_stdout(tmp_path: Path, plain: Path) -> None:
    sealed = tmp_path / "sealed"
    done = fanout("encrypt", plain, "-o", sealed, *ITERATIONS, env=WITH_PASSWORD)
    assert done.code == 0, done.err
    assert done.out.decode() == f"sha256 {sha256(sealed)}\n"
    assert REPORT.fullmatch(done.err.rstrip("\n")), done.err
    assert done.err.startswith("encrypted 307,200 bytes -> 307,232 bytes ")


def test_stdin_to_stdout_both_ways() -> None:
    sealed = fanout("encrypt", "-", "-o", "-", *ITERATIONS, stdin=PLAINTEXT, env=WITH_PASSWORD)
    assert sealed.code == 0, sealed.err
    assert sealed.out.startswith(b"Salted__")
    digest_line = f"sha256 {hashlib.sha256(sealed.out).hexdigest()}"
    report, digest = sealed.err.splitlines()  # stdout carries the data: both go to stderr
    assert REPORT.fullmatch(report)
    assert digest == digest_line
    opened = fanout("decrypt", "-", "-o", "-", *ITERATIONS, stdin=sealed.out, env=WITH_PASSWORD)
    assert opened.code == 0, opened.err
    assert opened.out == PLAINTEXT
    assert opened.err.splitlines()[1] == digest_line


def test_json_goes_to_stderr_when_stdout_carries_data() -> None:
    argv = ("encrypt", "-", "-o", "-", *ITERATIONS, "--json")
    done = fanout(*argv, stdin=PLAINTEXT, env=WITH_PASSWORD)
    assert done.code == 0, done.err
    summary = one_json_line(done.err)
    assert list(summary) == SUMMARY_KEYS
    assert summary["digest"] == hashlib.sha256(done.out).hexdigest()


def test_thread_runner(tmp_path: Path, ciphertext: Path) -> None:
    opened = tmp_path / "opened"
    argv = ("decrypt", ciphertext, "-o", opened, *ITERATIONS, "--runner", "thread", "--json")
    done = fanout(*argv, env=WITH_PASSWORD)
    assert done.code == 0, done.err
    assert done.json()["runner"] == "thread"
    assert done.json()["digest"] == sha256(ciphertext)
    assert opened.read_bytes() == PLAINTEXT


def openssl_enc(*argv: str | Path) -> None:
    pbkdf2 = ["-aes-256-cbc", "-pbkdf2", "-iter", "1000", "-pass", f"pass:{PASSWORD}"]
    subprocess.run(["openssl", "enc", *pbkdf2, *map(str, argv)], check=True, timeout=30)


def test_password_file_with_crlf_interoperates_with_openssl(tmp_path: Path, plain: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_bytes(f"{PASSWORD}\r\nnot the password\n".encode())
    env = {"FANOUT_PASSWORD": "not the password either"}  # the file wins
    sealed, opened = tmp_path / "sealed", tmp_path / "opened"
    done = fanout("encrypt", plain, "-o", sealed, "--password-file", secret, *ITERATIONS, env=env)
    assert done.code == 0, done.err
    openssl_enc("-d", "-in", sealed, "-out", opened)
    assert opened.read_bytes() == PLAINTEXT
    theirs, back = tmp_path / "theirs", tmp_path / "back"
    openssl_enc("-e", "-in", plain, "-out", theirs)
    done = fanout("decrypt", theirs, "-o", back, "--password-file", secret, *ITERATIONS, env=env)
    assert done.code == 0, done.err
    assert back.read_bytes() == PLAINTEXT


def test_wrong_password_leaves_no_output(tmp_path: Path) -> None:
    ciphertext = tmp_path / "sealed"
    ciphertext.write_bytes(sealed(PLAINTEXT, PASSWORD, wrong="Tr0ub4dor&3"))
    before = sorted(tmp_path.iterdir())
    argv = ("decrypt", ciphertext, "-o", tmp_path / "opened", *ITERATIONS)
    done = fanout(*argv, env={"FANOUT_PASSWORD": "Tr0ub4dor&3"})
    assert_one_line_error(done, 1, "bad decrypt: wrong password or corrupted input")
    assert sorted(tmp_path.iterdir()) == before  # no output, no partial file


@pytest.mark.parametrize(
    ("options", "fragments"),
    [
        (["--cipher", "aes-999"], ["unknown cipher 'aes-999': choose one of", "aes-256-cbc,"]),
        (["--cipher", "aes-256-gcm"], ["cipher 'aes-256-gcm'", "AEAD"]),
        (["--cipher", "des3"], ["cipher 'des3'", "allow_legacy"]),
        (["--digest", "sha999"], ["unknown digest 'sha999': choose one of", "sha256,"]),
        (["--iterations", "999"], ["--iterations 999: must be 1_000 to"]),
    ],
)
def test_refused_algorithms_exit_2(
    tmp_path: Path, plain: Path, options: list[str], fragments: list[str]
) -> None:
    sealed = tmp_path / "sealed"
    done = fanout("encrypt", plain, "-o", sealed, *options, env=WITH_PASSWORD)
    for fragment in fragments:
        assert_one_line_error(done, 2, fragment)
    assert not sealed.exists()


def test_a_legacy_cipher_once_allowed(tmp_path: Path, plain: Path) -> None:
    env = {**WITH_PASSWORD, "FANOUT_CRYPTO__ALLOW_LEGACY": "true"}
    sealed, opened = tmp_path / "sealed", tmp_path / "opened"
    argv = ("--cipher", "des3", *ITERATIONS, "--json")
    done = fanout("encrypt", plain, "-o", sealed, *argv, env=env)
    assert done.code == 0, done.err
    assert done.json()["cipher"] == "des-ede3-cbc"
    assert fanout("decrypt", sealed, "-o", opened, *argv, env=env).code == 0
    assert opened.read_bytes() == PLAINTEXT


@pytest.mark.parametrize("command", ["encrypt", "decrypt"])
@pytest.mark.parametrize("source", ["file", "-"])
def test_no_password_without_a_terminal(plain: Path, command: str, source: str) -> None:
    argv = (command, plain if source == "file" else "-", "-o", plain.with_suffix(".out"))
    assert_one_line_error(fanout(*argv, stdin=PLAINTEXT), 2, NO_PASSWORD)


@pytest.mark.parametrize(
    ("content", "fragment"),
    [(None, "No such file or directory"), (b"", "is empty"), (b"\r\nsecret\n", "is empty")],
)
def test_a_bad_password_file(
    tmp_path: Path, plain: Path, content: bytes | None, fragment: str
) -> None:
    secret = tmp_path / "secret"
    if content is not None:
        secret.write_bytes(content)
    argv = ("encrypt", plain, "-o", tmp_path / "sealed", "--password-file", secret)
    done = fanout(*argv, env=WITH_PASSWORD)
    assert_one_line_error(done, 2, f"password file '{secret}'")
    assert fragment in done.err


def test_a_missing_input_file(tmp_path: Path) -> None:
    missing = tmp_path / "missing.bin"
    done = fanout("encrypt", missing, "-o", tmp_path / "sealed", env=WITH_PASSWORD)
    assert_one_line_error(done, 2, f"input file '{missing}' does not exist")


def test_output_is_required(plain: Path) -> None:
    done = fanout("encrypt", plain, env=WITH_PASSWORD)
    assert_one_line_error(done, 2, "Missing option '-o' / '--output'")


def wait_for(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_ctrl_c_exits_130_and_leaves_no_file(tmp_path: Path) -> None:
    sealed = tmp_path / "sealed"
    argv = [sys.executable, "-m", "service", "encrypt", "-", "-o", str(sealed), *ITERATIONS]
    with subprocess.Popen(
        argv,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=environment(WITH_PASSWORD),
    ) as process:
        assert process.stdin is not None
        process.stdin.write(PLAINTEXT)  # and then nothing more: stdin stays open
        process.stdin.flush()
        # Ciphertext in the partial file: openssl is running and the output is being written.
        wait_for(lambda: any(path.stat().st_size for path in tmp_path.iterdir()))
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    assert process.returncode == 130
    assert out == b""
    assert err.decode().strip() == "fanout: error: interrupted"
    assert list(tmp_path.iterdir()) == []


def on_a_terminal(
    *argv: str | Path, env: Mapping[str, str], answers: Sequence[tuple[bytes, bytes]] = ()
) -> Outcome:
    """Run with stdin, stdout and stderr on a pseudo-terminal; answer each (prompt, typed).

    The terminal is one stream: the outcome's ``err`` holds everything the command printed.
    """
    environ = environment(env)
    controller, terminal = os.openpty()
    # A session of its own has no controlling terminal, so the prompt reads the pty on stdin:
    # never the terminal of whoever runs the tests.
    process = subprocess.Popen(
        [sys.executable, "-m", "service", *map(str, argv)],
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        env=environ,
        start_new_session=True,
    )
    os.close(terminal)
    seen = bytearray()
    try:
        for prompt, typed in answers:
            read_terminal(controller, seen, until=partial(bytearray.__contains__, seen, prompt))
            # Typed only once the prompt is up: echo is off by then (getpass flushes earlier input).
            os.write(controller, typed + b"\n")
        read_terminal(controller, seen, until=lambda: False)
        code = process.wait(timeout=30)
    finally:
        os.close(controller)
        process.kill()
        process.wait()
    assert_no_secret(bytes(seen), environ)
    return Outcome(code, b"", seen.decode())


def read_terminal(controller: int, seen: bytearray, *, until: Callable[[], bool]) -> None:
    """Read the terminal into ``seen`` until ``until()`` or every process on it is gone."""
    deadline = time.monotonic() + 30
    while not until():
        ready, _, _ = select.select([controller], [], [], max(0.0, deadline - time.monotonic()))
        assert ready, f"no answer from the command: {bytes(seen)!r}"
        try:
            piece = os.read(controller, 4096)
        except OSError:  # EIO: the other end is closed
            return
        if not piece:
            return
        seen += piece


def test_a_terminal_prompts_twice_without_echo(tmp_path: Path, plain: Path) -> None:
    sealed, opened = tmp_path / "sealed", tmp_path / "opened"
    typed = [(b"Password: ", PASSWORD.encode()), (b"Repeat for confirmation: ", PASSWORD.encode())]
    done = on_a_terminal("encrypt", plain, "-o", sealed, *ITERATIONS, env={}, answers=typed)
    assert done.code == 0, done.err
    assert fanout("decrypt", sealed, "-o", opened, *ITERATIONS, env=WITH_PASSWORD).code == 0
    assert opened.read_bytes() == PLAINTEXT


def test_ciphertext_is_not_written_to_a_terminal(plain: Path) -> None:
    done = on_a_terminal("encrypt", plain, "-o", "-", env=WITH_PASSWORD)
    assert done.code == 2
    assert "refusing to write ciphertext to a terminal: use -o FILE or redirect stdout" in done.err


def test_no_prompt_when_stdin_is_the_data(tmp_path: Path) -> None:
    sealed = tmp_path / "sealed"
    done = on_a_terminal("encrypt", "-", "-o", sealed, env={})
    assert done.code == 2
    assert NO_PASSWORD in done.err
    assert not sealed.exists()


def test_bench_offers_crypto() -> None:
    done = fanout("bench", "--help")
    assert "[life|crypto]" in done.out.decode()
    assert_one_line_error(fanout("bench", "crypto", "--strategies"), 2, "fanout bench life")


# Sets a file size limit (RLIMIT_FSIZE), then becomes `python -m service ARGV`: past the limit
# a write fails with EFBIG, as it fails with ENOSPC on a full disk.
_WITH_SMALL_FILES: Final = (
    "import os, resource, sys\n"
    "resource.setrlimit(resource.RLIMIT_FSIZE, (65536, 65536))\n"
    "os.execv(sys.executable, [sys.executable, '-m', 'service', *sys.argv[1:]])\n"
)


@pytest.mark.parametrize("runner", ["async", "thread"])
@pytest.mark.slow
def test_a_disk_that_refuses_the_output_is_one_line(tmp_path: Path, runner: str) -> None:
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(1 << 20))
    sealed_big = tmp_path / "big.enc"
    made = fanout("encrypt", big, "-o", sealed_big, *ITERATIONS, env=WITH_PASSWORD)
    assert made.code == 0, made.err
    for _ in range(3):  # the stray line seen once came in 3 runs of 5
        for command, source in (("encrypt", big), ("decrypt", sealed_big)):
            target = tmp_path / "out" / f"{command}.out"
            target.parent.mkdir(exist_ok=True)
            argv = [command, str(source), "-o", str(target), *ITERATIONS, "--runner", runner]
            done = subprocess.run(
                [sys.executable, "-c", _WITH_SMALL_FILES, *argv],
                capture_output=True,
                env=environment(WITH_PASSWORD),
                timeout=60,
                check=False,
            )
            outcome = Outcome(done.returncode, done.stdout, done.stderr.decode())
            assert_one_line_error(outcome, 1, f"cannot write {str(target)!r}: File too large")
            assert list(target.parent.iterdir()) == []
