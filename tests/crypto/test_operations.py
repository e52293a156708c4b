"""service.crypto: encrypt / decrypt over files, streams and iterators, with a real openssl."""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import pytest
from anyio.abc import SocketAttribute, SocketListener, SocketStream

from adapters.openssl import SMALL_INPUT_BYTES
from service.config import CryptoSettings
from service.crypto import check_algorithm, decrypt, encrypt, openssl_for
from service.errors import (
    ConfigError,
    CryptoFailed,
    InvalidInput,
    LimitExceeded,
    TimedOut,
    Unsupported,
)
from tests.adapters._children import child_pids, open_fds

pytestmark = pytest.mark.anyio

SECRET = "correct horse battery staple"


@pytest.fixture(params=["async", "thread"])
def settings(request: pytest.FixtureRequest) -> CryptoSettings:
    return CryptoSettings(runner=request.param, pbkdf2_iterations=1_000, chunk_bytes=8_192)


def leftovers(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.iterdir() if path.name.endswith(".part"))


async def test_files_round_trip_and_the_digest_is_the_ciphertexts(
    settings: CryptoSettings, tmp_path: Path
) -> None:
    payload = os.urandom(200_001)
    (tmp_path / "plain").write_bytes(payload)
    sealed = await encrypt(
        tmp_path / "plain", tmp_path / "sealed", password=SECRET, settings=settings
    )
    ciphertext = (tmp_path / "sealed").read_bytes()
    assert sealed.digest == hashlib.sha256(ciphertext).hexdigest()
    opened = await decrypt(
        str(tmp_path / "sealed"), str(tmp_path / "opened"), password=SECRET, settings=settings
    )
    assert (tmp_path / "opened").read_bytes() == payload
    assert opened.digest == sealed.digest
    assert (sealed.bytes_in, sealed.bytes_out) == (len(payload), len(ciphertext))
    assert (opened.bytes_in, opened.bytes_out) == (len(ciphertext), len(payload))
    assert sealed.summary().keys() >= {
        "digest",
        "digest_algorithm",
        "cipher",
        "bytes_in",
        "bytes_out",
        "elapsed_s",
    }
    assert (sealed.cipher, sealed.digest_algorithm, sealed.runner) == (
        "aes-256-cbc",
        "sha256",
        settings.runner,
    )
    assert leftovers(tmp_path) == []


async def chunks(data: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(data), 1_000):
        yield data[start : start + 1_000]


@asynccontextmanager
async def tcp_pair() -> AsyncIterator[tuple[SocketStream, SocketStream]]:
    """Two ends of a real TCP connection on loopback: anyio byte streams."""
    async with await anyio.create_tcp_listener(local_host="127.0.0.1") as listener:
        (server,) = listener.listeners
        assert isinstance(server, SocketListener)
        port = listener.extra(SocketAttribute.local_port)
        # connect() completes through the kernel's backlog before accept() is called.
        async with (
            await anyio.connect_tcp("127.0.0.1", port) as near,
            await server.accept() as far,
        ):
            yield near, far


async def read_all(stream: SocketStream, into: bytearray) -> None:
    async for piece in stream:
        into.extend(piece)


async def test_streams_iterators_and_callables_are_sources_and_targets(
    settings: CryptoSettings,
) -> None:
    payload = os.urandom(50_000)
    parts: list[bytes] = []

    async def keep(piece: bytes) -> None:
        parts.append(piece)

    await encrypt(chunks(payload), keep, password=SECRET, settings=settings)
    received = bytearray()
    async with tcp_pair() as (near, far), anyio.create_task_group() as group:
        group.start_soon(read_all, far, received)
        await decrypt(b"".join(parts), near, password=SECRET, settings=settings)
        await near.send_eof()
    assert bytes(received) == payload


async def test_a_byte_receive_stream_is_a_source(settings: CryptoSettings) -> None:
    payload = os.urandom(30_000)
    async with tcp_pair() as (near, far):
        await near.send(payload)
        await near.send_eof()
        result = await encrypt(far, None, password=SECRET, settings=settings)
    assert result.bytes_in == len(payload)
    assert result.bytes_out is None  # digest only


async def test_a_failed_job_leaves_the_old_file_and_no_partial_one(
    settings: CryptoSettings, tmp_path: Path
) -> None:
    target = tmp_path / "opened"
    target.write_bytes(b"what was here before")
    with pytest.raises(CryptoFailed, match="does not start with 'Salted__'"):
        await decrypt(b"not a ciphertext at all", target, password=SECRET, settings=settings)
    assert target.read_bytes() == b"what was here before"
    assert leftovers(tmp_path) == []


async def stalled() -> AsyncIterator[bytes]:
    yield b"x" * 100
    await anyio.sleep_forever()


async def test_timed_out_and_cancelled_jobs_leave_no_file_and_no_child(
    settings: CryptoSettings, tmp_path: Path
) -> None:
    before = child_pids()
    quick = CryptoSettings(
        runner=settings.runner, pbkdf2_iterations=1_000, timeout_s=0.3, kill_grace_s=0.5
    )
    with pytest.raises(TimedOut, match=r"time limit of 0\.3 s"):
        await encrypt(stalled(), tmp_path / "late", password=SECRET, settings=quick)
    with anyio.move_on_after(0.3):
        await encrypt(stalled(), tmp_path / "cancelled", password=SECRET, settings=settings)
    assert os.listdir(tmp_path) == []
    assert child_pids() == before


async def test_many_jobs_run_at_once_in_one_task_group(settings: CryptoSettings) -> None:
    payloads = [os.urandom(4_096 + n) for n in range(16)]
    digests: dict[int, str] = {}
    sealed: dict[int, list[bytes]] = {n: [] for n in range(len(payloads))}

    async def one(n: int) -> None:
        async def keep(piece: bytes) -> None:
            sealed[n].append(piece)

        digests[n] = (await encrypt(payloads[n], keep, password=SECRET, settings=settings)).digest

    async with anyio.create_task_group() as group:
        for n in range(len(payloads)):
            group.start_soon(one, n)
    for n in range(len(payloads)):
        assert digests[n] == hashlib.sha256(b"".join(sealed[n])).hexdigest()


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        (
            {"cipher": "aes-999"},
            InvalidInput,
            r"unknown cipher 'aes-999': choose one of .*aes-256-cbc",
        ),
        ({"cipher": "aes-256-gcm"}, Unsupported, "AEAD"),
        ({"cipher": "des3"}, Unsupported, r"allow_legacy = true"),
        ({"digest": "whirlpool"}, Unsupported, r"allow_legacy = true"),
        ({"digest": "sha-999"}, InvalidInput, r"unknown digest 'sha-999': choose one of .*sha256"),
        ({"iterations": 999}, LimitExceeded, r"--iterations 999: must be 1_000 to 100_000_000"),
        ({"password": ""}, InvalidInput, "the password is empty"),
        ({"password": "a\nb"}, InvalidInput, "line break"),
    ],
)
async def test_bad_requests_are_refused_before_anything_runs(
    settings: CryptoSettings, options: dict[str, object], error: type[Exception], message: str
) -> None:
    before = child_pids()
    call: dict[str, object] = {"password": SECRET, "settings": settings, **options}
    with pytest.raises(error, match=message):
        await encrypt(b"payload", None, **call)  # type: ignore[arg-type]  # a wrong type on purpose: the refusal is the test
    assert child_pids() == before


async def test_legacy_algorithms_run_when_allowed(settings: CryptoSettings) -> None:
    legacy = CryptoSettings(runner=settings.runner, pbkdf2_iterations=1_000, allow_legacy=True)
    parts: list[bytes] = []

    async def keep(piece: bytes) -> None:
        parts.append(piece)

    sealed = await encrypt(
        b"the book's chain",
        keep,
        password=SECRET,
        cipher="des3",
        digest="whirlpool",
        settings=legacy,
    )
    assert (sealed.cipher, sealed.digest_algorithm) == ("des-ede3-cbc", "whirlpool")
    opened: list[bytes] = []

    async def keep_plain(piece: bytes) -> None:
        opened.append(piece)

    await decrypt(b"".join(parts), keep_plain, password=SECRET, cipher="des3", settings=legacy)
    assert b"".join(opened) == b"the book's chain"


async def test_missing_files_and_a_missing_openssl_are_named(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match=r"cannot read '.*nowhere'"):
        await encrypt(tmp_path / "nowhere", None, password=SECRET)
    with pytest.raises(InvalidInput, match=r"its directory '.*no-dir' does not exist"):
        await encrypt(b"x", tmp_path / "no-dir" / "out", password=SECRET)
    with pytest.raises(InvalidInput, match="is a directory"):
        await encrypt(b"x", tmp_path, password=SECRET)
    bogus = CryptoSettings(openssl=str(tmp_path / "no-openssl"))
    with pytest.raises(ConfigError, match=r"no-openssl.*crypto\] openssl"):
        await encrypt(b"x", None, password=SECRET, settings=bogus)


async def test_names_are_checked_without_blocking_once_openssl_is_known(
    settings: CryptoSettings, tmp_path: Path
) -> None:
    link = tmp_path / "openssl"
    link.symlink_to((await openssl_for(settings)).path)
    by_link = CryptoSettings(openssl=str(link))
    check_algorithm(by_link, "cipher", "aes-999")  # not asked yet: judged when a job runs
    await openssl_for(by_link)
    check_algorithm(by_link, "cipher", "AES-256-CBC")
    check_algorithm(by_link, "digest", "sha512")
    with pytest.raises(InvalidInput, match="unknown cipher 'aes-999'"):
        check_algorithm(by_link, "cipher", "aes-999")
    with pytest.raises(Unsupported, match="AEAD"):
        check_algorithm(by_link, "cipher", "aes-256-gcm")
    with pytest.raises(Unsupported, match="allow_legacy = true"):
        check_algorithm(by_link, "digest", "whirlpool")


@pytest.mark.parametrize(
    "size", [0, 1, 16, SMALL_INPUT_BYTES - 16, SMALL_INPUT_BYTES, SMALL_INPUT_BYTES + 1]
)
async def test_bytes_on_either_side_of_the_small_path_round_trip(
    settings: CryptoSettings, size: int
) -> None:
    # Up to SMALL_INPUT_BYTES the payload is written into the children's stdin before they
    # start and relayed in one task; past it, it streams in chunks: the results are the same.
    before = child_pids()
    payload = os.urandom(size)
    sealed_chunks: list[bytes] = []

    async def keep(piece: bytes) -> None:
        sealed_chunks.append(piece)

    sealed = await encrypt(payload, keep, password=SECRET, settings=settings)
    ciphertext = b"".join(sealed_chunks)
    assert sealed.digest == hashlib.sha256(ciphertext).hexdigest()
    assert (sealed.bytes_in, sealed.bytes_out) == (size, len(ciphertext))
    opened_chunks: list[bytes] = []

    async def keep_plain(piece: bytes) -> None:
        opened_chunks.append(piece)

    opened = await decrypt(ciphertext, keep_plain, password=SECRET, settings=settings)
    assert b"".join(opened_chunks) == payload
    assert opened.digest == sealed.digest
    with pytest.raises(CryptoFailed, match="wrong password or corrupted input"):
        await decrypt(ciphertext, keep_plain, password="not " + SECRET, settings=settings)
    assert child_pids() == before


async def test_a_cancelled_encrypt_into_a_file_leaves_nothing_behind(
    settings: CryptoSettings, tmp_path: Path
) -> None:
    # With the async runner the kernel moves enc's output into the file from a worker thread
    # blocked in tee/splice; cancelling stops the children, which ends that thread too.
    before, fds = child_pids(), open_fds()

    async def stalls() -> AsyncIterator[bytes]:
        yield os.urandom(300_000)
        await anyio.sleep_forever()

    with anyio.move_on_after(0.5) as scope:
        await encrypt(stalls(), tmp_path / "sealed", password=SECRET, settings=settings)
    assert scope.cancelled_caught
    assert os.listdir(tmp_path) == []
    assert child_pids() == before
    for _ in range(100):  # the mover's own descriptors close as its thread ends
        if open_fds() <= fds:
            break
        await anyio.sleep(0.02)
    assert open_fds() <= fds
