"""Encrypt and decrypt a stream with openssl, and report what happened.

``encrypt`` runs ``openssl enc`` into ``openssl dgst`` and returns the ciphertext's digest;
``decrypt`` digests the ciphertext it is given (so it can be compared with what encryption
reported) while ``openssl enc -d`` turns it back into the plaintext. Both are coroutines for
an anyio task group: many jobs run at once, each with its own children.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Final, Literal, final

from anyio import to_thread

from adapters.openssl import (
    AlgorithmRefused,
    BadPassword,
    ChainTimeout,
    ChildFailed,
    InputBytes,
    Limits,
    OpenSSL,
    OpenSSLNotFound,
    Password,
    Recipe,
    StartFailed,
    UnknownAlgorithm,
    find_openssl,
    known_openssl,
    run_chain,
    spawner,
)
from service.config import CryptoSettings
from service.crypto.streams import Source, Target, opened_source, opened_target
from service.errors import (
    ConfigError,
    CryptoFailed,
    InvalidInput,
    LimitExceeded,
    TimedOut,
    Unsupported,
)

__all__ = ["CryptoResult", "ask_openssl", "check_algorithm", "decrypt", "encrypt", "openssl_for"]

_ITERATIONS: Final = (1_000, 100_000_000)


@final
@dataclass(frozen=True, slots=True)
class CryptoResult:
    """What a job did: the digest of the ciphertext, the algorithms, bytes, time taken."""

    operation: str
    cipher: str
    digest_algorithm: str
    digest: str
    iterations: int
    bytes_in: int
    bytes_out: int | None
    elapsed_s: float
    runner: str

    def summary(self) -> dict[str, object]:
        """The CLI's ``--json`` object (and the daemon's job result)."""
        return {
            "operation": self.operation,
            "digest": self.digest,
            "digest_algorithm": self.digest_algorithm,
            "cipher": self.cipher,
            "iterations": self.iterations,
            "bytes_in": self.bytes_in,
            "bytes_out": self.bytes_out,
            "elapsed_s": round(self.elapsed_s, 6),
            "runner": self.runner,
        }


async def encrypt(
    source: Source,
    target: Target | None,
    *,
    password: str | bytes | Password,
    cipher: str | None = None,
    digest: str | None = None,
    iterations: int | None = None,
    settings: CryptoSettings | None = None,
) -> CryptoResult:
    """Encrypt ``source`` into ``target`` and digest the ciphertext.

    ``target`` None: the book's chain - the ciphertext goes from enc to dgst through an OS
    pipe and only its digest comes back.
    """
    return await _run(
        source,
        target,
        password=password,
        cipher=cipher,
        digest=digest,
        iterations=iterations,
        settings=settings,
        decrypt=False,
    )


async def decrypt(
    source: Source,
    target: Target,
    *,
    password: str | bytes | Password,
    cipher: str | None = None,
    digest: str | None = None,
    iterations: int | None = None,
    settings: CryptoSettings | None = None,
) -> CryptoResult:
    """Decrypt ``source`` into ``target``; the digest is of the ciphertext read."""
    return await _run(
        source,
        target,
        password=password,
        cipher=cipher,
        digest=digest,
        iterations=iterations,
        settings=settings,
        decrypt=True,
    )


async def openssl_for(settings: CryptoSettings) -> OpenSSL:
    """The configured openssl binary and what it offers: asked once a process (on a worker
    thread: it runs openssl five times), then answered from memory with no trip at all."""
    known = known_openssl(settings.openssl)
    if known is not None:
        return known
    with _mapped():
        return await to_thread.run_sync(find_openssl, settings.openssl)


async def ask_openssl(settings: CryptoSettings) -> None:
    """Have the configured openssl asked what it offers, once, so that
    :func:`check_algorithm` can judge names; an openssl that cannot be found is left for a
    run to report (it is the daemon's trouble, not the caller's)."""
    if known_openssl(settings.openssl) is None:
        with suppress(ConfigError):
            await openssl_for(settings)


def check_algorithm(settings: CryptoSettings, kind: Literal["cipher", "digest"], name: str) -> None:
    """InvalidInput (unknown) or Unsupported (refused) unless the configured openssl offers
    ``name`` as a ``kind``; nothing before :func:`openssl_for` has found that binary.

    Never blocks, so submissions can be checked on the event loop; a run checks again.
    """
    binary = known_openssl(settings.openssl)
    if binary is None:
        return
    lookup = binary.cipher if kind == "cipher" else binary.digest
    with _mapped():
        lookup(name, allow_legacy=settings.allow_legacy)


async def _run(
    source: Source,
    target: Target | None,
    *,
    password: str | bytes | Password,
    cipher: str | None,
    digest: str | None,
    iterations: int | None,
    settings: CryptoSettings | None,
    decrypt: bool,
) -> CryptoResult:
    settings = settings or CryptoSettings()
    started = time.perf_counter()
    binary = await openssl_for(settings)
    with _mapped():
        secret = password if isinstance(password, Password) else Password(password)
        recipe = _recipe(binary, settings, cipher, digest, iterations)
        limits = Limits(settings.chunk_bytes, settings.timeout_s, settings.kill_grace_s)
        async with (
            opened_source(source, settings.chunk_bytes) as chunks,
            opened_target(target) as write,
        ):
            # A small payload's few chunks need no pipes past the default 64 KiB.
            pipe_bytes = 0 if isinstance(chunks, InputBytes) else settings.chunk_bytes
            result = await run_chain(
                recipe,
                spawner(settings.runner, pipe_bytes=pipe_bytes),
                secret,
                chunks,
                write,
                decrypt=decrypt,
                limits=limits,
            )
    return CryptoResult(
        operation="decrypt" if decrypt else "encrypt",
        cipher=recipe.cipher.name,
        digest_algorithm=recipe.digest.name,
        digest=result.digest,
        iterations=recipe.iterations,
        bytes_in=result.bytes_in,
        bytes_out=result.bytes_out,
        elapsed_s=time.perf_counter() - started,
        runner=settings.runner,
    )


def _recipe(
    binary: OpenSSL,
    settings: CryptoSettings,
    cipher: str | None,
    digest: str | None,
    iterations: int | None,
) -> Recipe:
    low, high = _ITERATIONS
    rounds = settings.pbkdf2_iterations if iterations is None else iterations
    if isinstance(rounds, bool) or not low <= rounds <= high:
        raise LimitExceeded(f"--iterations {rounds}: must be {low:_} to {high:_}")
    legacy = settings.allow_legacy
    chosen_cipher = binary.cipher(cipher or settings.cipher, allow_legacy=legacy)
    chosen_digest = binary.digest(digest or settings.digest, allow_legacy=legacy)
    providers = tuple(binary.provider_args(chosen_cipher, chosen_digest))
    return Recipe(binary.path, chosen_cipher, chosen_digest, rounds, providers)


@contextmanager
def _mapped() -> Iterator[None]:
    """The adapter's errors as the service's own."""
    try:
        yield
    except OpenSSLNotFound as exc:
        raise ConfigError(str(exc)) from exc
    except UnknownAlgorithm as exc:
        raise InvalidInput(str(exc)) from exc
    except AlgorithmRefused as exc:
        raise Unsupported(str(exc)) from exc
    except BadPassword as exc:
        raise InvalidInput(str(exc)) from exc
    except (ChildFailed, StartFailed) as exc:
        raise CryptoFailed(str(exc)) from exc
    except ChainTimeout as exc:
        raise TimedOut(str(exc)) from exc
