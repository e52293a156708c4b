"""The encrypt and decrypt kinds with real openssl children: inline base64 and streamed bodies."""

from __future__ import annotations

import base64
import os
import re
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path

import anyio
import anyio.lowlevel
import msgspec
import pytest

from service.config import CryptoSettings, Settings
from service.crypto import Password
from service.errors import BadParam, CryptoFailed, PayloadTooLarge
from service.jobs.kinds.crypto import MEDIA_TYPE, CryptoParams, DecryptKind, EncryptKind
from tests._sealed import sealed
from tests.jobs.kinds._context import Context, stored_params

pytestmark = pytest.mark.anyio

PASSWORD = "correct horse battery staple"
# Few PBKDF2 rounds and small chunks: fast tests that still cross chunk boundaries.
FAST = Settings(crypto=CryptoSettings(pbkdf2_iterations=1_000, chunk_bytes=4_096))
ENCRYPT, DECRYPT = EncryptKind(), DecryptKind()


async def body(data: bytes, piece: int = 10_000) -> AsyncIterator[bytes]:
    """A request body as it streams in, in uneven pieces."""
    for start in range(0, len(data), piece):
        await anyio.lowlevel.checkpoint()
        yield data[start : start + piece]


def _files(directory: Path) -> list[str]:
    return [path.name for path in directory.iterdir()]


def context(
    tmp_path: Path, *, settings: Settings = FAST, payload: AsyncIterator[bytes] | None = None
) -> Context:
    return Context(tmp_path, settings=settings, secret=Password(PASSWORD), payload=payload)


async def test_base64_data_round_trips_and_the_password_is_never_a_param(tmp_path: Path) -> None:
    plaintext = b"attack at dawn\n" * 1000
    # The password reaches run() as the context's secret; the params the manager keeps (and
    # hands back) carry none: here they hold a wrong one, which must not be used.
    params = CryptoParams(data=base64.b64encode(plaintext).decode(), password="not this one")
    ENCRYPT.check(params, FAST)
    assert ENCRYPT.secret_fields == DECRYPT.secret_fields == ("password",)
    assert "password" not in stored_params(ENCRYPT, params)

    sealing = context(tmp_path)
    sealed = await ENCRYPT.run(params, sealing)
    assert sealed.media_type == MEDIA_TYPE
    assert sealed.artifact is not None
    ciphertext = sealed.artifact.read_bytes()
    assert ciphertext.startswith(b"Salted__")
    assert sealed.result["operation"] == "encrypt"
    assert sealed.result["bytes_in"] == len(plaintext)
    assert PASSWORD not in repr(sealed.result)
    assert sealing.reports[-1] == (len(plaintext), len(plaintext))

    opening = context(tmp_path)
    back = CryptoParams(data=base64.b64encode(ciphertext).decode(), password="")
    opened = await DECRYPT.run(back, opening)
    assert opened.artifact is not None
    assert opened.artifact.read_bytes() == plaintext
    assert opened.result["digest"] == sealed.result["digest"]


async def test_a_streamed_payload_round_trips(tmp_path: Path) -> None:
    plaintext = os.urandom(150_000)
    sealing = context(tmp_path, payload=body(plaintext))
    sealed = await ENCRYPT.run(CryptoParams(password="", cipher="aes-128-cbc"), sealing)
    assert sealed.result["cipher"] == "aes-128-cbc"
    assert sealing.reports[-1] == (len(plaintext), 0)  # a stream's size is not known
    assert all(total == 0 for _, total in sealing.reports)
    assert sealed.artifact is not None
    ciphertext = sealed.artifact.read_bytes()

    opening = context(tmp_path, payload=body(ciphertext, piece=777))
    opened = await DECRYPT.run(CryptoParams(password="", cipher="aes-128-cbc"), opening)
    assert opened.artifact is not None
    assert opened.artifact.read_bytes() == plaintext


async def test_a_stream_past_the_limit_is_stopped_and_leaves_no_artifact(tmp_path: Path) -> None:
    small = Settings(crypto=CryptoSettings(pbkdf2_iterations=1_000, max_payload_bytes=50_000))
    closed: list[bool] = []

    async def endless() -> AsyncIterator[bytes]:
        try:
            while True:
                await anyio.lowlevel.checkpoint()
                yield b"x" * 8_192
        finally:
            closed.append(True)

    running = context(tmp_path, settings=small, payload=endless())
    with pytest.raises(PayloadTooLarge, match=r"crypto\.max_payload_bytes = 50_000 bytes"):
        await ENCRYPT.run(CryptoParams(password=""), running)
    assert closed == [True]  # the body was closed, not left to the garbage collector
    assert _files(tmp_path) == []


async def test_a_wrong_password_fails_without_an_artifact(tmp_path: Path) -> None:
    made = partial(sealed, b"secret" * 100, PASSWORD, wrong="wrong")
    ciphertext = base64.b64encode(await anyio.to_thread.run_sync(made)).decode()
    opening = Context(tmp_path / "out", settings=FAST, secret=Password("wrong"))
    opening.directory.mkdir()
    with pytest.raises(CryptoFailed, match="wrong password or corrupted input"):
        await DECRYPT.run(CryptoParams(data=ciphertext, password=""), opening)
    assert _files(opening.directory) == []


async def test_run_needs_a_payload_and_a_secret(tmp_path: Path) -> None:
    with pytest.raises(BadParam, match="no payload") as caught:
        await ENCRYPT.run(CryptoParams(password=""), context(tmp_path))
    assert caught.value.field == "params.data"
    both = context(tmp_path, payload=body(b"abc"))
    with pytest.raises(BadParam, match="give one or the other"):
        await ENCRYPT.run(CryptoParams(data="YWJj", password=""), both)
    lost = Context(tmp_path, settings=FAST, secret=None)
    with pytest.raises(BadParam, match="has no password") as caught:
        await ENCRYPT.run(CryptoParams(data="YWJj", password=""), lost)
    assert caught.value.field == "params.password"


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        (CryptoParams(data="YWJj=", password=PASSWORD), "params.data", "not canonical"),
        (CryptoParams(data="YWJ=", password=PASSWORD), "params.data", "not canonical"),
        (CryptoParams(data="YWI", password=PASSWORD), "params.data", "Incorrect padding"),
        (CryptoParams(data="YW=I", password=PASSWORD), "params.data", "not strict base64"),
        (CryptoParams(data="YW Jj", password=PASSWORD), "params.data", "no spaces"),
        (CryptoParams(data="YWJj\n", password=PASSWORD), "params.data", "not strict base64"),
        (CryptoParams(data="é", password=PASSWORD), "params.data", "not strict base64"),
        (
            CryptoParams(password=PASSWORD, iterations=10),
            "params.iterations",
            "params.iterations = 10: must be 1_000 to 100_000_000",
        ),
        (
            CryptoParams(password=PASSWORD, cipher=" "),
            "params.cipher",
            "leave it out for the default (crypto.cipher = 'aes-256-cbc')",
        ),
    ],
)
def test_check_refuses_bad_params_naming_the_field(
    params: CryptoParams, field: str, message: str
) -> None:
    with pytest.raises(BadParam, match=re.escape(message)) as caught:
        ENCRYPT.check(params, FAST)
    assert caught.value.field == field
    assert PASSWORD not in str(caught.value)


def test_check_bounds_inline_data() -> None:
    tiny = Settings(crypto=CryptoSettings(max_payload_bytes=10))
    with pytest.raises(PayloadTooLarge, match=r"decodes to 12 bytes, past crypto\.max_payload"):
        ENCRYPT.check(CryptoParams(data="A" * 16, password=PASSWORD), tiny)
    with pytest.raises(PayloadTooLarge, match="send a larger payload as the request body"):
        ENCRYPT.check(CryptoParams(data="A" * (1 << 20 | 4), password=PASSWORD), FAST)


def test_params_decode_strictly_and_the_time_limit_is_the_librarys() -> None:
    with pytest.raises(msgspec.ValidationError, match="unknown field `passwd`"):
        msgspec.convert({"password": "p", "passwd": "p"}, CryptoParams)
    # The password is never held by the parameters: it leaves them as it becomes a Password.
    assert msgspec.convert({"data": "YWJj"}, CryptoParams).password is None
    # The crypto library enforces [crypto] timeout_s itself: the manager adds no second limit.
    assert ENCRYPT.timeout_s(Settings(crypto=CryptoSettings(timeout_s=7.5))) is None


async def test_admit_judges_a_cipher_and_digest_having_asked_openssl() -> None:
    # A library's manager has not asked openssl before its first job: admit asks, so an
    # unknown name is refused at submission, not as a failed job.
    with pytest.raises(BadParam, match=r"aes-999") as caught:
        await ENCRYPT.admit(CryptoParams(password=PASSWORD, cipher="aes-999"), FAST)
    assert caught.value.field == "params.cipher"
    with pytest.raises(BadParam, match=r"sha-1234"):
        await ENCRYPT.admit(CryptoParams(password=PASSWORD, digest="sha-1234"), FAST)
    await ENCRYPT.admit(CryptoParams(password=PASSWORD, cipher="aes-128-cbc"), FAST)
