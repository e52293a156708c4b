"""The errors of :mod:`adapters.openssl`; the service maps them onto its own tree.

    OpenSSLError
    ├── OpenSSLNotFound     no usable openssl binary (path, version too old, not runnable)
    ├── UnknownAlgorithm    a cipher or digest name openssl does not offer (lists the valid ones)
    ├── AlgorithmRefused    offered, but not here: AEAD/XTS/key-wrap modes, legacy while off
    ├── BadPassword         empty, too long, or with a line break (fd:N reads one line)
    ├── StartFailed         openssl could not be started (out of file descriptors, memory...)
    ├── ChildFailed         openssl enc or dgst exited non-zero or was killed (stderr summarised)
    └── ChainTimeout        the chain ran past its time limit; every child was stopped

No message ever holds a password: the chain never has one in argv, and summaries of
openssl's stderr come from openssl, which never echoes it.
"""

from __future__ import annotations

import signal
from collections.abc import Sequence

__all__ = [
    "AlgorithmRefused",
    "BadPassword",
    "ChainTimeout",
    "ChildFailed",
    "OpenSSLError",
    "OpenSSLNotFound",
    "OutputFailed",
    "StartFailed",
    "UnknownAlgorithm",
    "describe_status",
]


class OpenSSLError(Exception):
    """The root of this adapter's errors."""


class OpenSSLNotFound(OpenSSLError):
    """Raised when no usable openssl binary is found at the configured path or on PATH."""


class UnknownAlgorithm(OpenSSLError):
    """Raised for a cipher or digest name openssl does not offer; ``valid`` lists those it does."""

    def __init__(self, kind: str, name: str, valid: Sequence[str]) -> None:
        self.kind = kind
        self.name = name
        self.valid = tuple(valid)
        super().__init__(f"unknown {kind} {name!r}: choose one of {', '.join(self.valid)}")


class AlgorithmRefused(OpenSSLError):
    """Raised for a name openssl offers but this chain will not use; the message says why."""

    def __init__(self, kind: str, name: str, reason: str, *, needs_legacy: bool = False) -> None:
        self.kind = kind
        self.name = name
        self.needs_legacy = needs_legacy
        super().__init__(f"{kind} {name!r}: {reason}")


class BadPassword(OpenSSLError):
    """Raised for a password openssl would misread (empty, too long, or with a line break)."""


class StartFailed(OpenSSLError):
    """Raised when a chain cannot start its children or make their pipes (an OSError)."""


class ChildFailed(OpenSSLError):
    """Raised when an openssl child exits non-zero or is killed; ``summary`` is from its stderr."""

    def __init__(self, child: str, returncode: int, summary: str) -> None:
        self.child = child
        self.returncode = returncode
        self.summary = summary
        status = describe_status(returncode)
        super().__init__(f"openssl {child} failed ({status})" + (f": {summary}" if summary else ""))


class ChainTimeout(OpenSSLError):
    """Raised when a chain runs past its time limit; its children were stopped and reaped."""


def describe_status(returncode: int) -> str:
    """``exit code 1`` or ``killed by SIGKILL``, from a subprocess return code."""
    if returncode >= 0:
        return f"exit code {returncode}"
    try:
        name = signal.Signals(-returncode).name
    except ValueError:
        name = f"signal {-returncode}"
    return f"killed by {name}"


class OutputFailed(OpenSSLError):
    """Raised when the output file refuses a write (full, too large, an I/O error); the
    ``OSError`` is its ``__cause__`` and :attr:`error`, for the caller, who knows the file's
    name, to say which file."""

    def __init__(self, error: OSError) -> None:
        super().__init__(f"the output file refused a write: {error.strerror or error}")
        self.error = error
