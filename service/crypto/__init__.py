"""Encrypt and decrypt streams with openssl child processes chained by pipes (item 52).

``encrypt`` streams a payload through ``openssl enc`` into ``openssl dgst`` and returns the
digest of the ciphertext; ``decrypt`` turns it back. Sources and targets are paths, bytes,
anyio byte streams or async iterables of chunks; a path target is written atomically.
"""

from __future__ import annotations

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
    "CryptoResult",
    "Source",
    "Target",
    "ask_openssl",
    "check_algorithm",
    "decrypt",
    "encrypt",
    "openssl_for",
]
