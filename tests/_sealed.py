"""Ciphertexts that a given wrong password fails to open, on every run.

AES-CBC has no MAC: a wrong key fails only the padding check, and still passes it about once
in 256 tries, yielding garbage. With a fresh salt each run, a test expecting "bad decrypt"
would then fail at random. Here the salt is chosen, not drawn: the first of a fixed sequence
under which plain openssl refuses the wrong password. The outcome is the same on every run,
since the key, the IV and so the padding the wrong password meets follow from the salt.
"""

from __future__ import annotations

import subprocess

_SALTS = 64  # the chance that none of them works is 256**-64


def _enc(
    *argv: str, password: str, iterations: int, data: bytes
) -> subprocess.CompletedProcess[bytes]:
    # The key derivation the service asks for (adapters/_openssl/plan.py), spelled out.
    pbkdf2 = ("-pbkdf2", "-iter", str(iterations), "-md", "sha256")
    return subprocess.run(
        ["openssl", "enc", "-aes-256-cbc", *pbkdf2, *argv, "-pass", f"pass:{password}"],
        input=data,
        capture_output=True,
        timeout=30,
        check=False,
    )


def sealed(plaintext: bytes, password: str, *, wrong: str, iterations: int = 1_000) -> bytes:
    """``plaintext`` as ``openssl enc -aes-256-cbc`` seals it under ``password`` (with its
    ``Salted__`` header), with a salt under which ``wrong`` fails the padding check."""
    for number in range(1, _SALTS + 1):
        salt = number.to_bytes(8, "big")
        # With -S, openssl writes no header: it is added here.
        made = _enc(
            "-e", "-S", salt.hex(), password=password, iterations=iterations, data=plaintext
        )
        assert made.returncode == 0, made.stderr
        ciphertext = b"Salted__" + salt + made.stdout
        if _enc("-d", password=wrong, iterations=iterations, data=ciphertext).returncode != 0:
            return ciphertext
    raise AssertionError(f"{wrong!r} opened all {_SALTS} ciphertexts: is it the password?")
