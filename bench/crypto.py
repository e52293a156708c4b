"""The crypto benchmark: our openssl chains beside a shell pipeline and the book's Popen loop.

Three tables from one run (``python -m bench.crypto``):

1. Throughput: a 256 MiB file of random bytes encrypted (aes-256-cbc) to a file and the
   ciphertext digested (sha256), by each runner and by ``openssl enc | tee | openssl dgst`` in
   bash; best of 3, the sides taking turns.
2. Memory: the peak RSS of a fresh interpreter encrypting 1 GiB from an async generator to a
   file, beside the RSS it had after its imports.
3. Concurrency: 200 jobs of 4 KiB started at once, by each runner and by the book's loop of
   ``subprocess.Popen`` pairs (item 52: every enc and dgst started before any is waited for).

Every side of a table runs PBKDF2 with the same iterations, and few of them: at the default
600_000 it costs about 0.4 s a job on a current CPU, which would hide the streaming in table 1
and be all that table 3 measures.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import shlex
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from functools import partial
from importlib.metadata import version
from pathlib import Path
from subprocess import Popen
from typing import Final, final

import anyio

from adapters.openssl import Password, find_openssl
from service.config import CryptoSettings
from service.crypto.operations import encrypt
from service.system.memory import status_mib

__all__ = ["main", "rss_one"]

PASSWORD: Final = "correct horse battery staple"
MIB: Final = 1024 * 1024
STREAM_BYTES: Final = 256 * MIB
STREAM_ITERATIONS: Final = 1_000  # the fewest CryptoSettings allows: table 1 is about streaming
RSS_BLOCKS: Final = 1024  # of 1 MiB each: a 1 GiB payload
JOBS: Final = 200
JOB_BYTES: Final = 4096
JOB_ITERATIONS: Final = 10_000
REPEATS: Final = 3
RUNNERS: Final = ("async", "thread")


@final
@dataclass(frozen=True, slots=True)
class Row:
    """One side of table 1 or 3: its best time and whether its digests checked out."""

    name: str
    seconds: float
    check: str
    peak_fds: int | None = None


@final
@dataclass(frozen=True, slots=True)
class Memory:
    """One runner in table 2 (measured in a fresh interpreter by :func:`rss_one`)."""

    runner: str
    baseline_mib: float
    peak_mib: float
    seconds: float
    payload_mib: float


def _settings(runner: str, iterations: int) -> CryptoSettings:
    return CryptoSettings(runner=runner, pbkdf2_iterations=iterations)


def _file_check(digest: str, path: Path) -> str:
    with path.open("rb") as file:
        actual = hashlib.file_digest(file, "sha256").hexdigest()
    return "ok" if digest == actual else f"MISMATCH: printed {digest}, file {actual}"


def _best(name: str, runs: list[tuple[float, str]]) -> Row:
    return Row(name, min(seconds for seconds, _ in runs), runs[-1][1])


def _stream_ours(source: Path, out: Path, runner: str) -> tuple[float, str]:
    settings = _settings(runner, STREAM_ITERATIONS)
    result = anyio.run(partial(encrypt, source, out, password=PASSWORD, settings=settings))
    return result.elapsed_s, _file_check(result.digest, out)


def _stream_shell(openssl: str, source: Path, out: Path, secret: Path) -> tuple[float, str]:
    binary, quoted = shlex.quote(openssl), shlex.quote
    script = (
        f"set -o pipefail; {binary} enc -aes-256-cbc -pbkdf2 -iter {STREAM_ITERATIONS} "
        f"-md sha256 -pass fd:3 -in {quoted(str(source))} 3< {quoted(str(secret))} "
        f"| tee {quoted(str(out))} | {binary} dgst -sha256"
    )
    started = time.perf_counter()
    done = subprocess.run(["bash", "-c", script], check=True, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    return seconds, _file_check(done.stdout.split()[-1], out)


def _throughput(openssl: str) -> list[Row]:
    with tempfile.TemporaryDirectory() as tmp:
        source, secret = Path(tmp, "payload"), Path(tmp, "password")
        with source.open("wb") as file:
            for _ in range(STREAM_BYTES // MIB):
                file.write(os.urandom(MIB))
        secret.touch(mode=0o600)
        secret.write_text(PASSWORD + "\n", encoding="utf-8")
        sides: dict[str, Callable[[], tuple[float, str]]] = {
            f"ours, {runner} runner": partial(_stream_ours, source, Path(tmp, runner), runner)
            for runner in RUNNERS
        }
        sides["bash: openssl enc \\| tee \\| openssl dgst"] = partial(
            _stream_shell, openssl, source, Path(tmp, "shell"), secret
        )
        runs: dict[str, list[tuple[float, str]]] = {name: [] for name in sides}
        for _ in range(REPEATS):  # in turns, so a slow spell of the machine hits every side
            for name, side in sides.items():
                runs[name].append(side())
    return [_best(name, each) for name, each in runs.items()]


def rss_one(runner: str) -> Memory:
    """Encrypt 1 GiB from an async generator to a temporary file, in this process."""
    baseline = status_mib("VmRSS")
    block = os.urandom(MIB)

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(RSS_BLOCKS):
            yield block

    settings = _settings(runner, STREAM_ITERATIONS)
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp, "payload.enc")
        run = partial(encrypt, chunks(), target, password=PASSWORD, settings=settings)
        result = anyio.run(run)
    return Memory(runner, baseline, status_mib("VmHWM"), result.elapsed_s, result.bytes_in / MIB)


def _memory(runner: str) -> Memory:
    argv = [sys.executable, "-m", "bench.crypto", "--rss", runner]
    out = subprocess.run(argv, check=True, capture_output=True, text=True).stdout
    return Memory(**json.loads(out))


@contextmanager
def _peak_fds() -> Iterator[list[int]]:
    """Count this process's open fds every 10 ms on a thread; the peak lands in ``[0]``."""
    peak, done = [0], threading.Event()

    def sample() -> None:
        while not done.wait(0.01):
            peak[0] = max(peak[0], len(os.listdir("/proc/self/fd")))

    watcher = threading.Thread(target=sample, daemon=True)
    watcher.start()
    try:
        yield peak
    finally:
        done.set()
        watcher.join()


def _jobs_ours(payloads: list[bytes], runner: str) -> tuple[float, str]:
    settings = _settings(runner, JOB_ITERATIONS)
    wrong: list[int] = []

    async def job(payload: bytes) -> None:
        kept = bytearray()

        async def sink(piece: bytes) -> None:
            kept.extend(piece)

        result = await encrypt(payload, sink, password=PASSWORD, settings=settings)
        if result.digest != hashlib.sha256(kept).hexdigest():
            wrong.append(len(payload))

    async def all_at_once() -> float:
        started = time.perf_counter()
        async with anyio.create_task_group() as group:
            for payload in payloads:
                group.start_soon(job, payload)
        return time.perf_counter() - started

    try:
        seconds = anyio.run(all_at_once)
    except Exception as exc:  # reported in the table: EMFILE when fds run short, say
        while isinstance(exc, ExceptionGroup):
            exc = exc.exceptions[0]
        return float("inf"), f"failed: {type(exc).__name__}: {exc}"
    return seconds, f"{len(wrong)} wrong" if wrong else "ok"


def _book_pair(openssl: str, payload: bytes) -> tuple[Popen[bytes], Popen[bytes]]:
    """The book's ``run_encrypt`` and ``run_hash``, the password through a pipe, not argv."""
    secret = Password(PASSWORD).pipe()
    enc_argv = [openssl, "enc", "-aes-256-cbc", "-e", "-pbkdf2", "-iter", str(JOB_ITERATIONS)]
    enc_argv += ["-md", "sha256", "-pass", f"fd:{secret}"]
    pipe = subprocess.PIPE
    try:
        enc = Popen(enc_argv, stdin=pipe, stdout=pipe, pass_fds=(secret,))
    finally:
        os.close(secret)
    assert enc.stdin is not None
    assert enc.stdout is not None
    enc.stdin.write(payload)  # 4 KiB: the pipe holds it, so this never blocks
    enc.stdin.flush()
    dgst = Popen([openssl, "dgst", "-sha256", "-r"], stdin=enc.stdout, stdout=pipe)
    enc.stdout.close()  # dgst holds it now (and enc gets SIGPIPE if dgst dies)
    enc.stdout = None
    return enc, dgst


def _jobs_book(openssl: str, payloads: list[bytes]) -> tuple[float, str]:
    started = time.perf_counter()
    pairs = [_book_pair(openssl, payload) for payload in payloads]  # all started first
    for enc, _ in pairs:
        enc.communicate()
    printed = [dgst.communicate()[0] for _, dgst in pairs]
    seconds = time.perf_counter() - started
    failed = sum(bool(proc.returncode) for pair in pairs for proc in pair) + printed.count(b"")
    return seconds, f"{failed} failed" if failed else "exit 0, digest printed"


def _concurrency(openssl: str) -> list[Row]:
    payloads = [os.urandom(JOB_BYTES) for _ in range(JOBS)]
    sides: dict[str, Callable[[], tuple[float, str]]] = {
        f"ours, {runner} runner": partial(_jobs_ours, payloads, runner) for runner in RUNNERS
    }
    sides["the book's Popen loop"] = partial(_jobs_book, openssl, payloads)
    rows = []
    for name, side in sides.items():
        with _peak_fds() as peak:
            side()  # untimed: the fd count's sampling thread would take its share of the GIL
        runs = [side() for _ in range(REPEATS)]
        rows.append(Row(name, min(seconds for seconds, _ in runs), runs[-1][1], peak[0]))
    return rows


def _print_throughput(rows: list[Row]) -> None:
    print(
        f"\n**1. Throughput** — {STREAM_BYTES // MIB} MiB of random bytes from a file, "
        f"aes-256-cbc to a file, sha256 of the ciphertext; PBKDF2 {STREAM_ITERATIONS:_} "
        f"iterations on every side; best of {REPEATS}; MiB/s = 2^20 bytes a second:\n"
    )
    print("| run | seconds | MiB/s | vs bash | digest = sha256 of the file |")
    print("|---|---:|---:|---:|---|")
    anchor = rows[-1].seconds
    for row in rows:
        rate = STREAM_BYTES / MIB / row.seconds
        ratio = anchor / row.seconds
        print(f"| {row.name} | {row.seconds:.3f} | {rate:.0f} | {ratio:.2f}x | {row.check} |")


def _print_memory(rows: list[Memory]) -> None:
    print(
        f"\n**2. Memory** — {RSS_BLOCKS} MiB from an async generator (one random 1 MiB block, "
        "yielded again and again) to a file, each runner in a fresh interpreter:\n"
    )
    print("| runner | payload (MiB) | seconds | RSS after imports (MiB) | peak RSS (MiB) |")
    print("|---|---:|---:|---:|---:|")
    for row in rows:
        print(
            f"| {row.runner} | {row.payload_mib:.0f} | {row.seconds:.2f} | "
            f"{row.baseline_mib:.1f} | {row.peak_mib:.1f} |"
        )


def _print_concurrency(rows: list[Row]) -> None:
    print(
        f"\n**3. Concurrency** — {JOBS} jobs of {JOB_BYTES // 1024} KiB at once, enc into dgst "
        f"each, PBKDF2 {JOB_ITERATIONS:_} iterations (at the default 600_000 it would be all "
        f"this table measures); ours also hand the ciphertext to an in-memory sink; best of "
        f"{REPEATS}; `ulimit -n` {resource.getrlimit(resource.RLIMIT_NOFILE)[0]}:\n"
    )
    print("| run | seconds | jobs/s | vs book | peak open fds | check |")
    print("|---|---:|---:|---:|---:|---|")
    book = rows[-1].seconds
    for row in rows:
        print(
            f"| {row.name} | {row.seconds:.3f} | {JOBS / row.seconds:.0f} | "
            f"{book / row.seconds:.2f}x | {row.peak_fds} | {row.check} |"
        )


def main() -> None:
    """Run the three measurements and print their tables (Markdown, for README)."""
    # Imported here: it brings numpy, which the --rss interpreter must not carry.
    from bench._machine import machine

    openssl = find_openssl(CryptoSettings().openssl)
    print(f"Measured {machine()} · anyio {version('anyio')} · OpenSSL {openssl.version}.")
    throughput = _throughput(openssl.path)
    _print_throughput(throughput)
    memory = [_memory(runner) for runner in RUNNERS]
    _print_memory(memory)
    _print_concurrency(_concurrency(openssl.path))
    anchor = throughput[-1].seconds
    ours = zip(RUNNERS, throughput[:-1], strict=True)
    ratios = ", ".join(f"{runner} {anchor / row.seconds:.2f}x" for runner, row in ours)
    peaks = ", ".join(f"{row.runner} {row.peak_mib:.0f}" for row in memory)
    print(f"\nTargets: throughput >= 0.90x bash ({ratios}); peak RSS <= 64 MiB ({peaks}).")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--rss":
        print(json.dumps(asdict(rss_one(sys.argv[2]))))
    else:
        main()
