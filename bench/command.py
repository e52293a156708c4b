"""The ``fanout`` command as a whole process, beside the programs a user would run instead.

``python -m bench.command`` prints one table of wall times, each the best of ``REPEATS`` runs
with the sides taking turns (so a slow spell of the machine hits both), every process started
afresh:

- ``fanout --help`` beside ``python -c pass`` (the interpreter's own start);
- ``fanout encrypt`` of 0 bytes beside ``openssl enc`` of 0 bytes, at the default 600,000
  PBKDF2 iterations (the key derivation is most of both);
- ``fanout encrypt`` of 256 MiB and of 1 GiB of random bytes, file to file, beside the shell
  pipe ``openssl enc -in F | tee OUT | openssl dgst`` (bash, ``pipefail``), both at 1,000
  iterations, both printing the ciphertext's digest, which is compared.

The ratio is the anchor's time over ours: above 1 ours is faster. Files live in a temporary
directory on the disk (``TMPDIR``), not in memory, and each side's output is removed before
the other side runs.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Final, final

from bench._machine import machine

__all__ = ["main"]

REPEATS: Final = 5
SIZES_MIB: Final = (256, 1024)
ITERATIONS: Final = 1_000
_PASSWORD: Final = b"correct horse battery staple\n"


@final
@dataclass(frozen=True, slots=True)
class Row:
    what: str
    ours_s: list[float]
    anchor: str
    anchor_s: list[float]
    check: str

    def line(self) -> str:
        ours, theirs = min(self.ours_s), min(self.anchor_s)
        spread = f"{statistics.median(self.ours_s):.2f} / {statistics.median(self.anchor_s):.2f}"
        return (
            f"| {self.what} | {ours:.3f} s | {self.anchor} | {theirs:.3f} s "
            f"| {theirs / ours:.2f}x | {spread} | {self.check} |"
        )


def _fanout() -> list[str]:
    found = shutil.which("fanout", path=str(Path(sys.executable).parent))
    return [found] if found else [sys.executable, "-m", "service"]


def _timed(argv: list[str], **options: object) -> tuple[float, bytes]:
    started = time.perf_counter()
    done = subprocess.run(argv, check=True, capture_output=True, **options)  # type: ignore[call-overload]  # options are run()'s own keywords
    return time.perf_counter() - started, done.stdout + done.stderr


def _turns(
    ours: list[str], anchor: list[str], *, outputs: tuple[Path | None, Path | None] = (None, None)
) -> tuple[list[float], list[float], list[bytes]]:
    """Both sides ``REPEATS`` times in turns; each side's output file removed before it runs."""
    ours_s: list[float] = []
    anchor_s: list[float] = []
    printed: list[bytes] = []
    environ = {key: value for key, value in os.environ.items() if not key.startswith("FANOUT_")}
    for _ in range(REPEATS):
        for argv, times, output in ((ours, ours_s, outputs[0]), (anchor, anchor_s, outputs[1])):
            if output is not None:
                output.unlink(missing_ok=True)
            seconds, said = _timed(argv, env=environ)
            times.append(seconds)
            printed.append(said)
    return ours_s, anchor_s, printed


def _digest(output: bytes) -> str:
    """The hex digest a run printed (``sha256 HEX`` from fanout, ``HEX *stdin`` from dgst)."""
    words = output.decode(errors="replace").split()
    return next((word for word in words if len(word) == 64), "?")


def main() -> None:
    fanout = _fanout()
    openssl = shutil.which("openssl") or "openssl"
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="fanout-bench-", dir=os.environ.get("TMPDIR")) as tmp:
        root = Path(tmp)
        password = root / "password"
        password.write_bytes(_PASSWORD)
        ours_s, anchor_s, _ = _turns([*fanout, "--help"], [sys.executable, "-c", "pass"])
        rows.append(Row("`fanout --help`", ours_s, "`python -c pass`", anchor_s, "-"))
        empty = root / "empty"
        empty.write_bytes(b"")
        ours_s, anchor_s, _ = _turns(
            [
                *fanout,
                "encrypt",
                str(empty),
                "-o",
                str(root / "e.enc"),
                "--password-file",
                str(password),
            ],
            [
                openssl,
                "enc",
                "-aes-256-cbc",
                "-pbkdf2",
                "-iter",
                "600000",
                "-md",
                "sha256",
                "-pass",
                f"file:{password}",
                "-in",
                str(empty),
                "-out",
                str(root / "o.enc"),
            ],
            outputs=(root / "e.enc", root / "o.enc"),
        )
        rows.append(Row("`fanout encrypt` 0 B", ours_s, "`openssl enc` 0 B", anchor_s, "-"))
        for mib in SIZES_MIB:
            source = root / f"plain-{mib}"
            with source.open("wb") as file:
                for _ in range(mib):
                    file.write(os.urandom(1 << 20))
            ours_out, shell_out = root / "ours.enc", root / "shell.enc"
            shell = (
                f"set -o pipefail; {openssl} enc -aes-256-cbc -e -pbkdf2 -iter {ITERATIONS} "
                f"-md sha256 -pass file:{password} -in {source} | tee {shell_out} "
                f"| {openssl} dgst -sha256 -r"
            )
            ours_s, anchor_s, outputs = _turns(
                [
                    *fanout,
                    "encrypt",
                    str(source),
                    "-o",
                    str(ours_out),
                    "--password-file",
                    str(password),
                    "--iterations",
                    str(ITERATIONS),
                ],
                ["bash", "-c", shell],
                outputs=(ours_out, shell_out),
            )
            sizes_match = ours_out.stat().st_size == shell_out.stat().st_size
            digests = {_digest(output) for output in outputs[-2:]}
            check = "same size" if sizes_match else "sizes differ"
            check += ", digests printed" if "?" not in digests else ", a digest missing"
            rows.append(Row(f"`fanout encrypt` {mib} MiB", ours_s, "shell pipe", anchor_s, check))
            source.unlink()
    print(f"Measured {machine()} · OpenSSL from {openssl}.")
    print(f"Whole processes, best of {REPEATS}, the sides in turns (median ours / anchor):\n")
    print("| ours | time | anchor | time | ratio | medians | check |")
    print("|---|---:|---|---:|---:|---:|---|")
    for row in rows:
        print(row.line())


if __name__ == "__main__":
    main()
