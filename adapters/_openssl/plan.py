"""What one chain is asked to do, and what it reports.

:class:`Recipe` (the commands), :class:`Limits`, the source (an async iterable of chunks or an
:class:`InputFile`) and the :data:`Sink` make up a :class:`Plan`; a :class:`Run` keeps what the
chain sees while it runs, and becomes its :class:`ChainResult`.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterable, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Final, final

import anyio

from adapters._openssl.algorithms import Algorithm
from adapters._openssl.children import Child, Spawner
from adapters._openssl.errors import OutputFailed
from adapters._openssl.password import Password

__all__ = [
    "SMALL_INPUT_BYTES",
    "ChainResult",
    "InputBytes",
    "InputFile",
    "Limits",
    "OutputFile",
    "Plan",
    "Recipe",
    "Run",
    "Sink",
]

SMALL_INPUT_BYTES: Final = 64 * 1024
"""A pipe's capacity on Linux by default: a payload this small is written into the child's
stdin pipe before the child starts, whole, without a task to feed it (see :class:`InputBytes`)."""

Sink = Callable[[bytes], Awaitable[object]]
"""Where output goes, a chunk at a time; it applies backpressure by taking its time."""


@final
@dataclass(frozen=True, slots=True)
class Recipe:
    """What to run: the binary, the algorithms and the key derivation."""

    openssl: str
    cipher: Algorithm
    digest: Algorithm
    iterations: int
    providers: tuple[str, ...] = ()

    def enc_argv(self, password_fd: int, *, decrypt: bool) -> list[str]:
        # -md sha256 is enc's default since 1.1.0; said outright, so a ciphertext stays
        # readable by `openssl enc -d -pbkdf2 -iter N` whatever a later default becomes.
        return [
            self.openssl,
            "enc",
            f"-{self.cipher.name}",
            "-d" if decrypt else "-e",
            "-pbkdf2",
            "-iter",
            str(self.iterations),
            "-md",
            "sha256",
            "-pass",
            f"fd:{password_fd}",
            *self.providers,
        ]

    def dgst_argv(self) -> list[str]:
        return [self.openssl, "dgst", f"-{self.digest.name}", "-r", *self.providers]


@final
@dataclass(frozen=True, slots=True)
class Limits:
    """How a chain reads, how long it may run, and how long a child gets to end on SIGTERM."""

    chunk_bytes: int = 1024 * 1024
    timeout_s: float = 300.0
    grace_s: float = 2.0


@final
@dataclass(frozen=True, slots=True)
class ChainResult:
    """The digest (hex) and the bytes that went in and out (None: never seen by Python)."""

    digest: str
    bytes_in: int
    bytes_out: int | None


@final
@dataclass(frozen=True, slots=True)
class InputFile:
    """A regular file as the source: enc (and, decrypting, dgst) read it themselves.

    No byte of it passes through this process: each child gets its own descriptor of the file
    as stdin, as ``openssl enc -in FILE`` would read it.
    """

    path: str


@final
@dataclass(frozen=True, slots=True)
class OutputFile:
    """A file the output goes to, by its descriptor (the caller opens, renames and closes it).

    With the async runner enc's output is moved into it by the kernel (``splice``, and ``tee``
    for dgst's copy), never through Python; otherwise :meth:`write` writes a chunk at a time
    on a worker thread.
    """

    fd: int

    async def write(self, piece: bytes) -> None:
        await anyio.to_thread.run_sync(_write_all, self.fd, piece)


def _write_all(fd: int, piece: bytes) -> None:
    view = memoryview(piece)
    try:
        while view:
            view = view[os.write(fd, view) :]
    except OSError as exc:
        raise OutputFailed(exc) from exc


@final
@dataclass(frozen=True, slots=True)
class InputBytes:
    """A payload of at most :data:`SMALL_INPUT_BYTES` as the source, held whole.

    It is written into enc's stdin pipe (and, decrypting, dgst's) before the child starts, and
    the pipe's write end closed, so the child reads it and its end as from a file: no task
    feeds it, and the chain relays enc's output in the caller's task alone.
    """

    data: bytes

    def __post_init__(self) -> None:
        if len(self.data) > SMALL_INPUT_BYTES:
            raise ValueError(f"InputBytes holds at most {SMALL_INPUT_BYTES} bytes")


@final
@dataclass(frozen=True, slots=True)
class Plan:
    """Everything one run of the chain was asked to do."""

    recipe: Recipe
    spawner: Spawner
    password: Password
    source: AsyncIterable[bytes] | InputFile | InputBytes
    sink: Sink | OutputFile | None
    decrypt: bool
    limits: Limits


@dataclass(slots=True)
class Run:
    """One chain's children and what it has seen of their streams."""

    children: list[Child] = field(default_factory=list)
    stderr: dict[str, bytes] = field(default_factory=dict)
    digest_out: bytes = b""
    bytes_in: int = 0
    bytes_out: int = 0
