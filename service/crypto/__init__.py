"""Encrypt and decrypt streams with openssl child processes chained by pipes (item 52).

``encrypt`` streams a payload through ``openssl enc`` into ``openssl dgst`` and returns the
digest of the ciphertext; ``decrypt`` turns it back. Sources and targets are paths, bytes,
anyio byte streams or async iterables of chunks; a path target is written atomically.

``Password`` is the one form a password takes from the edge (a file, a prompt, a header) to
the pipe openssl reads it from: bytes that never print, wiped once the work is done.
"""

from __future__ import annotations

from adapters.openssl import MAX_PASSWORD_BYTES, BadPassword, Password
from service.crypto.operations import (
    CryptoResult,
    ask_openssl,
    check_algorithm,
    decrypt,
    encrypt,
    openssl_for,
)
from service.crypto.streams import Source, Target

__all__ = [
    "MAX_PASSWORD_BYTES",
    "BadPassword",
    "CryptoResult",
    "Password",
    "Source",
    "Target",
    "ask_openssl",
    "check_algorithm",
    "decrypt",
    "encrypt",
    "openssl_for",
]
