"""``fanout encrypt`` and ``fanout decrypt``: the password, the two ends, and the report.

The commands hold no crypto of their own. They find the password, turn ``-`` into stdin or
stdout, call :func:`service.crypto.encrypt` or :func:`~service.crypto.decrypt`, and print
the result. The password comes from a file, ``FANOUT_PASSWORD`` or a no-echo prompt - never
from argv, which any local user can read in /proc/PID/cmdline - and is never printed.
"""

from __future__ import annotations

import dataclasses
import json
import os
import stat
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any, BinaryIO, Final, Literal, TypeVar, final

import anyio
import click
from anyio import to_thread

from service.cli.app import settings_of
from service.cli.interrupt import until_interrupted
from service.cli.password import find_password, is_terminal
from service.config import RUNNERS, CryptoSettings
from service.crypto import CryptoResult, Password, Source, Target
from service.crypto import decrypt as decrypt_stream
from service.crypto import encrypt as encrypt_stream
from service.errors import FanoutError, InvalidInput

__all__ = ["CryptoRequest", "crypto_options", "decrypt", "encrypt", "run_crypto"]


_SHIPPED: Final = CryptoSettings()
_Command = TypeVar("_Command", bound=Callable[..., None])


@final
@dataclass(frozen=True, slots=True)
class CryptoRequest:
    """One ``fanout encrypt`` or ``fanout decrypt`` command line, as click parsed it."""

    operation: Literal["encrypt", "decrypt"]
    source: str
    target: str
    cipher: str | None
    digest: str | None
    password_file: str | None
    iterations: int | None
    runner: str | None
    as_json: bool

    @property
    def encrypting(self) -> bool:
        return self.operation == "encrypt"


def crypto_options(command: _Command) -> _Command:
    """INPUT, ``-o OUTPUT`` and the options that ``encrypt`` and ``decrypt`` share."""
    decorators = [
        click.argument("source", metavar="INPUT"),
        click.option(
            "-o",
            "--output",
            "target",
            required=True,
            metavar="OUTPUT",
            help="A file (replaced only on success), or - for stdout.",
        ),
        click.option("--cipher", metavar="NAME", help=_default("An openssl enc cipher", "cipher")),
        click.option(
            "--digest", metavar="NAME", help=_default("Digest of the ciphertext", "digest")
        ),
        click.option(
            "--password-file", metavar="FILE", help="Read the password from FILE's first line."
        ),
        click.option(
            "--iterations",
            type=int,
            metavar="N",
            help=_default("PBKDF2 iterations", "pbkdf2_iterations"),
        ),
        click.option(
            "--runner",
            type=click.Choice(RUNNERS),
            help=_default("Run openssl on the event loop or from threads", "runner"),
        ),
        click.option("--json", "as_json", is_flag=True, help="Print one JSON object."),
    ]
    for decorate in reversed(decorators):
        command = decorate(command)
    return command


def _default(text: str, key: str) -> str:
    shipped = getattr(_SHIPPED, key)
    shown = f"{shipped:_}" if isinstance(shipped, int) else shipped
    return f"{text} (default: [crypto] {key} = {shown})."


def run_crypto(request: CryptoRequest, settings: CryptoSettings) -> None:
    """Check both ends, find the password, run the job and print what it did."""
    if request.runner is not None:
        settings = dataclasses.replace(settings, runner=request.runner)
    _check_ends(request)
    can_prompt = request.source != "-" and is_terminal(sys.stdin)
    password = find_password(
        request.password_file, confirm=request.encrypting, can_prompt=can_prompt
    )
    try:
        result = anyio.run(until_interrupted, partial(_run, request, settings, password))
    finally:
        password.wipe()
    if result is None:
        raise KeyboardInterrupt
    _report(result, request)


def _check_ends(request: CryptoRequest) -> None:
    """What can be refused before asking for a password."""
    if request.encrypting and request.target == "-" and is_terminal(sys.stdout):
        raise InvalidInput(
            "refusing to write ciphertext to a terminal: use -o FILE or redirect stdout"
        )
    if request.source != "-" and not os.path.exists(request.source):
        raise InvalidInput(f"input file {request.source!r} does not exist")


async def _run(
    request: CryptoRequest, settings: CryptoSettings, password: Password
) -> CryptoResult:
    source: Source = request.source
    if source == "-":
        source = _stdin_chunks(settings.chunk_bytes)
    target: Target = _write_stdout if request.target == "-" else request.target
    job = encrypt_stream if request.encrypting else decrypt_stream
    result = await job(
        source,
        target,
        password=password,
        cipher=request.cipher,
        digest=request.digest,
        iterations=request.iterations,
        settings=settings,
    )
    if request.target == "-":
        await to_thread.run_sync(_flush_stdout)
    return result


async def _stdin_chunks(chunk_bytes: int) -> AsyncIterator[bytes]:
    """stdin a chunk at a time, never the whole of it."""
    read = _stdin_reader(sys.stdin.buffer, chunk_bytes)
    while piece := await read():
        yield piece


def _stdin_reader(stdin: BinaryIO, chunk_bytes: int) -> Callable[[], Awaitable[bytes]]:
    """How to read one chunk of stdin off the event loop.

    A pipe or a terminal may stay silent for ever, so it is awaited on the event loop and read
    only once readable: Ctrl-C then ends the command at once. A worker thread blocked in
    ``read`` could not be cancelled, and would hold the interpreter open on the way out until
    the writer went away. A regular file (which the event loop cannot poll, and which never
    blocks for long) is read in a worker thread.
    """
    fd = _pollable_fd(stdin)
    if fd is None:

        async def read_in_thread() -> bytes:
            with _stdio_errors("read stdin"):
                return await to_thread.run_sync(stdin.read, chunk_bytes)

        return read_in_thread

    async def read_when_ready() -> bytes:
        await anyio.wait_readable(fd)
        with _stdio_errors("read stdin"):
            return os.read(fd, chunk_bytes)

    return read_when_ready


def _pollable_fd(stream: BinaryIO) -> int | None:
    """The stream's descriptor if it is a pipe, socket or terminal, else None."""
    if os.name != "posix":
        return None
    try:
        fd = stream.fileno()
        mode = os.fstat(fd).st_mode
    except (OSError, ValueError):  # no descriptor at all (a test's BytesIO), or closed
        return None
    return fd if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or os.isatty(fd) else None


async def _write_stdout(piece: bytes) -> None:
    await to_thread.run_sync(_blocking_write, piece)


def _blocking_write(piece: bytes) -> None:
    with _stdio_errors("write to stdout"):
        sys.stdout.buffer.write(piece)


def _flush_stdout() -> None:
    with _stdio_errors("write to stdout"):
        sys.stdout.buffer.flush()


@contextmanager
def _stdio_errors(action: str) -> Iterator[None]:
    try:
        yield
    except BrokenPipeError as exc:
        # The reader went away (`| head`). Point stdout at /dev/null, or Python's own flush on
        # the way out fails again and prints a second, unhelpful error after ours.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        raise FanoutError(f"cannot {action}: the reading end of the pipe was closed") from exc
    except OSError as exc:
        raise FanoutError(f"cannot {action}: {exc.strerror or exc}") from exc


def _report(result: CryptoResult, request: CryptoRequest) -> None:
    """stdout gets the digest (or the JSON object) unless it carries the data."""
    data_on_stdout = request.target == "-"
    if request.as_json:
        click.echo(json.dumps(result.summary()), err=data_on_stdout)
        return
    click.echo(_describe(result), err=True)
    click.echo(f"{result.digest_algorithm} {result.digest}", err=data_on_stdout)


def _describe(result: CryptoResult) -> str:
    """``encrypted 1,048,576 bytes -> 1,048,608 bytes (aes-256-cbc, ...) in 0.31 s``."""
    done = "encrypted" if result.operation == "encrypt" else "decrypted"
    out = "?" if result.bytes_out is None else f"{result.bytes_out:,}"
    return (
        f"{done} {result.bytes_in:,} bytes -> {out} bytes ({result.cipher}, "
        f"PBKDF2 {result.iterations:,} iterations) in {result.elapsed_s:.2f} s"
    )


@click.command()
@crypto_options
@click.pass_context
def encrypt(ctx: click.Context, /, **options: Any) -> None:
    """Encrypt INPUT into OUTPUT with openssl enc.

    INPUT and OUTPUT are files, or - for stdin and stdout. The key is derived by PBKDF2, so
    `openssl enc -d -pbkdf2 -iter N` decrypts the result too. The password comes from
    --password-file, else FANOUT_PASSWORD, else a prompt on a terminal; never from the command
    line. Prints the digest of the ciphertext, which decrypt reports again.
    """
    run_crypto(CryptoRequest("encrypt", **options), settings_of(ctx).crypto)


@click.command()
@crypto_options
@click.pass_context
def decrypt(ctx: click.Context, /, **options: Any) -> None:
    """Decrypt INPUT into OUTPUT with openssl enc.

    INPUT and OUTPUT are files, or - for stdin and stdout; give the --cipher and --iterations
    the ciphertext was made with. The password comes from --password-file, else
    FANOUT_PASSWORD, else a prompt on a terminal; never from the command line. Prints the
    digest of the ciphertext read, to compare with the one encrypt printed.
    """
    run_crypto(CryptoRequest("decrypt", **options), settings_of(ctx).crypto)
