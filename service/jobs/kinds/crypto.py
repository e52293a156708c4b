"""The ``encrypt`` and ``decrypt`` jobs: a payload through openssl, as ``fanout encrypt`` does.

The payload is the request body, streamed as it arrives (:attr:`JobContext.payload`), or,
for small ones, base64 in ``params.data``; never both. Either way it is counted while it
streams and refused past ``[crypto] max_payload_bytes`` (PayloadTooLarge, HTTP 413).

The password is a secret field: it becomes a ``Password`` as it arrives (the header or
``params.password``), is never in the parameters, the store or a view of the job, reaches
:meth:`CryptoKind.run` as :attr:`JobContext.secret` and is wiped when the job ends.

The artifact is the ciphertext (encrypt) or the plaintext (decrypt), written by the crypto
library straight to the artifact path (atomically: a failed job leaves no file), served as
``application/octet-stream``. The result is the crypto summary: digest of the ciphertext,
algorithms, iterations, bytes in and out. Progress counts bytes read (of 0 for a stream,
whose size is not known; of the decoded size for ``data``).
"""

from __future__ import annotations

from collections.abc import AsyncIterable
from typing import Annotated, ClassVar, Final, Literal, final

import msgspec

from service.config import CryptoSettings, Settings
from service.crypto import ask_openssl, check_algorithm, decrypt, encrypt
from service.errors import BadParam, InvalidInput, Unsupported
from service.jobs.kind import JobContext, Outcome
from service.jobs.kinds._payload import chunks_of, counted, decode_data
from service.jobs.kinds._support import expect

__all__ = ["MEDIA_TYPE", "CryptoKind", "CryptoParams", "DecryptKind", "EncryptKind"]

MEDIA_TYPE: Final = "application/octet-stream"
_ITERATIONS: Final = (1_000, 100_000_000)


class CryptoParams(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """An encrypt or decrypt job; the payload is the request body, or ``data`` when small."""

    data: Annotated[
        str | None,
        msgspec.Meta(description="a small payload as base64 (else: the body); never stored"),
    ] = None
    password: (
        Annotated[
            str,
            msgspec.Meta(
                description="secret, never stored (or the X-Fanout-Password header); the "
                "job's parameters never hold it: it becomes a Password as it arrives",
                min_length=1,
            ),
        ]
        | None
    ) = None
    cipher: Annotated[str | None, msgspec.Meta(description="default: [crypto] cipher")] = None
    digest: Annotated[str | None, msgspec.Meta(description="default: [crypto] digest")] = None
    iterations: Annotated[
        int | None,
        msgspec.Meta(
            description=f"PBKDF2 rounds, {_ITERATIONS[0]:_} to {_ITERATIONS[1]:_}; "
            "default: [crypto] pbkdf2_iterations"
        ),
    ] = None


class CryptoKind:
    """What encrypt and decrypt share; a subclass names its direction."""

    params: ClassVar[type[msgspec.Struct]] = CryptoParams
    secret_fields: ClassVar[tuple[str, ...]] = ("password",)
    # The plaintext of an encrypt job: never in the store, in GET /v1/jobs or in its events.
    payload_fields: ClassVar[tuple[str, ...]] = ("data",)
    decrypting: ClassVar[bool]

    def check(self, params: msgspec.Struct, settings: Settings) -> None:
        """BadParam for bad base64, out-of-range iterations, an empty cipher or digest, or one
        the daemon's openssl does not offer (once it has asked it: see
        :func:`~service.crypto.check_algorithm`); PayloadTooLarge for ``data`` past its
        limits. (A password openssl cannot take was refused as it became a ``Password``.)"""
        job = expect(params, CryptoParams)
        if job.data is not None:
            decode_data(job.data, max_bytes=settings.crypto.max_payload_bytes)
        low, high = _ITERATIONS
        if job.iterations is not None and not low <= job.iterations <= high:
            raise BadParam(
                f"params.iterations = {job.iterations}: must be {low:_} to {high:_}",
                field="params.iterations",
            )
        _algorithm(settings.crypto, "cipher", job.cipher)
        _algorithm(settings.crypto, "digest", job.digest)

    async def admit(self, params: msgspec.Struct, settings: Settings) -> None:
        """A cipher or digest named before anyone asked openssl what it offers (a library's
        manager; the daemon asks as it starts) is judged once it has been asked."""
        job = expect(params, CryptoParams)
        if job.cipher is None and job.digest is None:
            return
        await ask_openssl(settings.crypto)
        _algorithm(settings.crypto, "cipher", job.cipher)
        _algorithm(settings.crypto, "digest", job.digest)

    def timeout_s(self, settings: Settings) -> float | None:
        """None here: the crypto library enforces ``[crypto] timeout_s`` itself, for the CLI and
        jobs alike, and stops openssl's children past it (the one place that limit lives)."""
        return None

    def max_running(self, settings: Settings) -> int:
        """``[jobs] max_running_decrypt`` or ``max_running_encrypt``."""
        jobs = settings.jobs
        return jobs.max_running_decrypt if self.decrypting else jobs.max_running_encrypt

    async def run(self, params: msgspec.Struct, context: JobContext) -> Outcome:
        job, settings = expect(params, CryptoParams), context.settings.crypto
        if context.secret is None:
            raise BadParam(
                "params.password: the job has no password (it lives in memory only, and this "
                "process never had it): submit the job again",
                field="params.password",
            )
        target = context.artifact_path(".bin")
        operation = decrypt if self.decrypting else encrypt
        result = await operation(
            _source(job, context, settings),
            target,
            password=context.secret,
            cipher=job.cipher,
            digest=job.digest,
            iterations=job.iterations,
            settings=settings,
        )
        return Outcome(dict(result.summary()), target, MEDIA_TYPE)


@final
class EncryptKind(CryptoKind):
    """Encrypt the payload (openssl enc) and digest the ciphertext (openssl dgst)."""

    name: ClassVar[str] = "encrypt"
    decrypting: ClassVar[bool] = False


@final
class DecryptKind(CryptoKind):
    """Decrypt the payload; the digest is of the ciphertext read, to compare with encrypt's."""

    name: ClassVar[str] = "decrypt"
    decrypting: ClassVar[bool] = True


def _algorithm(
    settings: CryptoSettings, field: Literal["cipher", "digest"], name: str | None
) -> None:
    if name is None:
        return
    if not name.strip():
        raise BadParam(
            f"params.{field} is empty: name one, or leave it out for the default "
            f"(crypto.{field} = {getattr(settings, field)!r})",
            field=f"params.{field}",
        )
    try:
        check_algorithm(settings, field, name)
    except (InvalidInput, Unsupported) as exc:
        raise BadParam(f"params.{field}: {exc}", field=f"params.{field}") from exc


def _source(
    job: CryptoParams, context: JobContext, settings: CryptoSettings
) -> AsyncIterable[bytes]:
    limit = settings.max_payload_bytes
    if context.payload is not None:
        if job.data is not None:
            raise BadParam(
                "params.data: the payload came as the request body too: give one or the other",
                field="params.data",
            )
        return counted(context.payload, limit=limit, progress=context.progress)
    if job.data is None:
        raise BadParam(
            "params.data: no payload: send it as the request body (streamed), or a small one "
            "as base64 in params.data",
            field="params.data",
        )
    data = decode_data(job.data, max_bytes=limit)
    chunks = chunks_of(data, settings.chunk_bytes)
    return counted(chunks, limit=limit, progress=context.progress, total=len(data))
