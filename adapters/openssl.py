"""openssl as child processes chained by pipes, behind a small typed API.

- :func:`find_openssl` — the binary (a path or PATH), its version, and the ciphers and digests
  it offers as :class:`Algorithm` values; names are checked against them (:class:`OpenSSL`).
- :class:`Password` — reaches openssl through a pipe (``-pass fd:N``), never argv or a log.
- :func:`run_chain` — ``openssl enc`` into ``openssl dgst`` over a stream of chunks: digest
  only (an OS pipe between the two), ciphertext and digest, or decryption.
- :func:`spawner` — how the children run: ``"async"`` (``anyio.open_process``) or
  ``"thread"`` (blocking ``subprocess.Popen`` served by worker threads).

Errors are this module's own (adapters import nothing from ``service``, which maps them)::

    OpenSSLError
    ├── OpenSSLNotFound     no usable openssl binary
    ├── UnknownAlgorithm    a name openssl does not offer (the message lists those it does)
    ├── AlgorithmRefused    AEAD / XTS / key-wrap modes; legacy algorithms while not allowed
    ├── BadPassword         empty, too long, or with a line break
    ├── ChildFailed         enc or dgst exited non-zero or was killed (stderr summarised)
    └── ChainTimeout        ran past its time limit; every child was stopped
"""

from __future__ import annotations

from typing import Literal

from adapters._openssl.catalog import Algorithm, OpenSSL, find_openssl
from adapters._openssl.chain import ChainResult, Limits, Recipe, Sink, run_chain
from adapters._openssl.children import AsyncSpawner, Spawner, ThreadSpawner
from adapters._openssl.errors import (
    AlgorithmRefused,
    BadPassword,
    ChainTimeout,
    ChildFailed,
    OpenSSLError,
    OpenSSLNotFound,
    UnknownAlgorithm,
)
from adapters._openssl.password import MAX_PASSWORD_BYTES, Password

__all__ = [
    "MAX_PASSWORD_BYTES",
    "Algorithm",
    "AlgorithmRefused",
    "BadPassword",
    "ChainResult",
    "ChainTimeout",
    "ChildFailed",
    "Limits",
    "OpenSSL",
    "OpenSSLError",
    "OpenSSLNotFound",
    "Password",
    "Recipe",
    "Sink",
    "Spawner",
    "UnknownAlgorithm",
    "find_openssl",
    "run_chain",
    "spawner",
]


def spawner(runner: Literal["async", "thread"] | str) -> Spawner:
    """A fresh spawner for one chain: ``"async"`` or ``"thread"``."""
    if runner == "async":
        return AsyncSpawner()
    if runner == "thread":
        return ThreadSpawner()
    raise ValueError(f"unknown runner {runner!r}: choose 'async' or 'thread'")
