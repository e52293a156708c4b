"""openssl as child processes chained by pipes, behind a small typed API.

- :func:`find_openssl` — the binary (a path or PATH), its version, and the ciphers and digests
  it offers as :class:`Algorithm` values; names are checked against them (:class:`OpenSSL`).
  :func:`known_openssl` gives the answer again without blocking, once it has been found.
- :class:`Password` — reaches openssl through a pipe (``-pass fd:N``), never argv or a log.
- :func:`run_chain` — ``openssl enc`` into ``openssl dgst`` over a stream of chunks, an
  :class:`InputFile` the children read themselves or :class:`InputBytes` written into their
  stdin: digest only (an OS pipe between the two), ciphertext and digest, or decryption; the
  output to a sink, or to an :class:`OutputFile` the kernel moves it into.
- :func:`spawner` — how the children run: ``"async"`` (``Popen`` and a pidfd, the event loop
  waiting on both) or ``"thread"`` (blocking ``subprocess.Popen`` served by worker threads).

Errors are this module's own (adapters import nothing from ``service``, which maps them)::

    OpenSSLError
    ├── OpenSSLNotFound     no usable openssl binary
    ├── UnknownAlgorithm    a name openssl does not offer (the message lists those it does)
    ├── AlgorithmRefused    AEAD / XTS / key-wrap modes; legacy algorithms while not allowed
    ├── BadPassword         empty, too long, or with a line break
    ├── StartFailed         openssl could not be started (file descriptors, memory)
    ├── OutputFailed        the output file refused a write (full, too large)
    ├── ChildFailed         enc or dgst exited non-zero or was killed (stderr summarised)
    └── ChainTimeout        ran past its time limit; every child was stopped
"""

from __future__ import annotations

from typing import Literal

from adapters._openssl.algorithms import Algorithm, OpenSSL
from adapters._openssl.async_child import AsyncSpawner
from adapters._openssl.catalog import find_openssl, known_openssl
from adapters._openssl.chain import run_chain
from adapters._openssl.children import Spawner
from adapters._openssl.errors import (
    AlgorithmRefused,
    BadPassword,
    ChainTimeout,
    ChildFailed,
    OpenSSLError,
    OpenSSLNotFound,
    OutputFailed,
    StartFailed,
    UnknownAlgorithm,
)
from adapters._openssl.password import MAX_PASSWORD_BYTES, Password
from adapters._openssl.plan import (
    SMALL_INPUT_BYTES,
    ChainResult,
    InputBytes,
    InputFile,
    Limits,
    OutputFile,
    Recipe,
    Sink,
)
from adapters._openssl.thread_child import ThreadSpawner

__all__ = [
    "MAX_PASSWORD_BYTES",
    "SMALL_INPUT_BYTES",
    "Algorithm",
    "AlgorithmRefused",
    "BadPassword",
    "ChainResult",
    "ChainTimeout",
    "ChildFailed",
    "InputBytes",
    "InputFile",
    "Limits",
    "OpenSSL",
    "OpenSSLError",
    "OpenSSLNotFound",
    "OutputFailed",
    "OutputFile",
    "Password",
    "Recipe",
    "Sink",
    "Spawner",
    "StartFailed",
    "UnknownAlgorithm",
    "find_openssl",
    "known_openssl",
    "run_chain",
    "spawner",
]


def spawner(runner: Literal["async", "thread"] | str, *, pipe_bytes: int = 1024 * 1024) -> Spawner:
    """A fresh spawner for one chain: ``"async"`` or ``"thread"``, pipes of ``pipe_bytes``."""
    if runner == "async":
        return AsyncSpawner(pipe_bytes=pipe_bytes)
    if runner == "thread":
        return ThreadSpawner(pipe_bytes=pipe_bytes)
    raise ValueError(f"unknown runner {runner!r}: choose 'async' or 'thread'")
