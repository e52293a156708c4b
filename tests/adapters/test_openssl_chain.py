"""adapters.openssl: the enc|dgst chain on both runners, with a real openssl.

Every test runs on asyncio and trio, with children on ``anyio.open_process`` and on blocking
``Popen`` in worker threads. Nothing is mocked: the children are real openssl processes.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pickle
import re
import resource
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from functools import partial

import anyio
import pytest

from adapters._openssl.children import PIPE, stop
from adapters._openssl.stderr import summarise
from adapters.openssl import (
    MAX_PASSWORD_BYTES,
    BadPassword,
    ChainResult,
    ChainTimeout,
    ChildFailed,
    Limits,
    OpenSSL,
    Password,
    Recipe,
    StartFailed,
    find_openssl,
    run_chain,
    spawner,
)
from tests._sealed import sealed
from tests.adapters._children import child_pids, open_fds, read_proc

pytestmark = pytest.mark.anyio

SECRET = "correct horse battery staple"
ITERATIONS = 1_000


@pytest.fixture(scope="module")
def binary() -> OpenSSL:
    return find_openssl("")


@pytest.fixture(params=["async", "thread"])
def runner(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


def recipe(binary: OpenSSL, cipher: str = "aes-256-cbc", digest: str = "sha256") -> Recipe:
    chosen = binary.cipher(cipher, allow_legacy=True), binary.digest(digest, allow_legacy=True)
    return Recipe(binary.path, *chosen, ITERATIONS, tuple(binary.provider_args(*chosen)))


async def chunks(data: bytes, size: int = 7_919) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


class Collect:
    """A sink that keeps what it is given."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    async def __call__(self, piece: bytes) -> None:
        self.parts.append(piece)

    @property
    def data(self) -> bytes:
        return b"".join(self.parts)


async def encrypt(binary: OpenSSL, runner: str, data: bytes, **kw: object) -> tuple[bytes, str]:
    sink = Collect()
    result = await run_chain(
        recipe(binary, **kw),  # type: ignore[arg-type]  # a wrong type on purpose: the refusal is the test
        spawner(runner),
        Password(SECRET),
        chunks(data),
        sink,
    )
    assert result.bytes_in == len(data)
    assert result.bytes_out == len(sink.data)
    return sink.data, result.digest


async def decrypt(
    binary: OpenSSL, runner: str, data: bytes, password: str = SECRET
) -> tuple[bytes, ChainResult]:
    sink = Collect()
    result = await run_chain(
        recipe(binary), spawner(runner), Password(password), chunks(data), sink, decrypt=True
    )
    return sink.data, result


async def stalled(first: bytes) -> AsyncIterator[bytes]:
    """Yields one chunk, then waits forever: a stream stuck mid-way."""
    yield first
    await anyio.sleep_forever()


async def wait_for_children(count: int) -> list[int]:
    with anyio.fail_after(10):
        # Polling /proc: nothing in this process signals that the children have started.
        while len(pids := sorted(child_pids())) < count:  # noqa: ASYNC110  # polling: there is no event to wait on
            await anyio.sleep(0.01)
    return pids


async def read_after_exec(pid: int) -> bytes:
    """cmdline and environ of a child once it runs openssl: between fork and exec it reads as
    this process, or as nothing."""
    with anyio.fail_after(10):
        # Polling /proc: nothing in this process signals the exec.
        while b"openssl" not in (cmdline := read_proc(pid, "cmdline")):  # noqa: ASYNC110  # polling: there is no event to wait on
            await anyio.sleep(0.005)
    return cmdline + read_proc(pid, "environ")


async def openssl(*args: str, data: bytes) -> bytes:
    """Plain openssl, as a user would run it, for interop checks."""
    done = await anyio.run_process(["openssl", *args], input=data)
    return done.stdout


# --- round trips and interop ------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 15, 16, 17, 1_000_003])
async def test_a_round_trip_returns_the_payload(binary: OpenSSL, runner: str, size: int) -> None:
    payload = os.urandom(size)
    ciphertext, digest = await encrypt(binary, runner, payload)
    assert ciphertext.startswith(b"Salted__")
    assert digest == hashlib.sha256(ciphertext).hexdigest()
    plaintext, result = await decrypt(binary, runner, ciphertext)
    assert plaintext == payload
    # Decryption digests the ciphertext it reads: the same digest encryption reported.
    assert result.digest == digest
    assert (result.bytes_in, result.bytes_out) == (len(ciphertext), size)


async def test_plain_openssl_decrypts_ours_and_we_decrypt_its(
    binary: OpenSSL, runner: str, tmp_path: anyio.Path
) -> None:
    payload = os.urandom(100_000)
    ciphertext, _ = await encrypt(binary, runner, payload)
    theirs = await openssl(*OPENSSL_DEC, "-d", "-pass", f"pass:{SECRET}", data=ciphertext)
    assert theirs == payload
    made = await openssl(*OPENSSL_DEC, "-e", "-pass", f"pass:{SECRET}", data=payload)
    plaintext, result = await decrypt(binary, runner, made)
    assert plaintext == payload
    assert result.digest == hashlib.sha256(made).hexdigest()


OPENSSL_DEC = ("enc", "-aes-256-cbc", "-pbkdf2", "-iter", str(ITERATIONS))


async def test_the_digest_only_chain_pipes_enc_into_dgst(binary: OpenSSL, runner: str) -> None:
    result = await run_chain(
        recipe(binary), spawner(runner), Password(SECRET), chunks(os.urandom(300_000)), None
    )
    assert re.fullmatch(r"[0-9a-f]{64}", result.digest)
    assert result.bytes_in == 300_000
    assert result.bytes_out is None  # the ciphertext never passed through this process
    assert result.digest != hashlib.sha256(b"").hexdigest()


async def test_the_books_legacy_algorithms_run_with_the_legacy_provider(
    binary: OpenSSL, runner: str
) -> None:
    payload = os.urandom(5_000)
    ciphertext, digest = await encrypt(binary, runner, payload, cipher="des3", digest="whirlpool")
    assert len(digest) == 128  # whirlpool: 512 bits
    legacy = ("-provider", "legacy", "-provider", "default")
    expected = (await openssl("dgst", "-whirlpool", "-r", *legacy, data=ciphertext)).split()[0]
    assert digest == expected.decode()


# --- failures ---------------------------------------------------------------------------------


async def test_a_wrong_password_says_so(binary: OpenSSL, runner: str) -> None:
    ciphertext = await anyio.to_thread.run_sync(
        partial(sealed, bytes(1_000), SECRET, wrong="not the password", iterations=ITERATIONS)
    )
    assert (await decrypt(binary, runner, ciphertext))[0] == bytes(1_000)
    with pytest.raises(ChildFailed, match="bad decrypt: wrong password or corrupted input") as info:
        await decrypt(binary, runner, ciphertext, password="not the password")
    assert info.value.child == "enc"
    assert SECRET not in str(info.value)
    assert "not the password" not in str(info.value)


async def test_input_that_is_no_ciphertext_says_so(binary: OpenSSL, runner: str) -> None:
    with pytest.raises(ChildFailed, match="does not start with 'Salted__'"):
        await decrypt(binary, runner, b"just some text that was never encrypted")
    with pytest.raises(ChildFailed, match="empty or too short"):
        await decrypt(binary, runner, b"")


async def test_a_killed_child_is_named_with_its_signal(binary: OpenSSL, runner: str) -> None:
    before = child_pids()

    async def kill_enc() -> None:
        pids = await wait_for_children(len(before) + 2)
        os.kill(min(set(pids) - before), signal.SIGKILL)  # enc: started first

    # The source goes quiet after one chunk: the chain must notice the death by itself.
    failures: list[ChildFailed] = []
    async with anyio.create_task_group() as group:
        group.start_soon(kill_enc)
        try:
            await run_chain(
                recipe(binary), spawner(runner), Password(SECRET), stalled(b"x"), Collect()
            )
        except ChildFailed as failure:
            failures.append(failure)
    assert [str(failure) for failure in failures] == ["openssl enc failed (killed by SIGKILL)"]
    assert child_pids() == before


async def test_the_sinks_own_error_arrives_and_the_children_are_stopped(
    binary: OpenSSL, runner: str
) -> None:
    before = child_pids()

    async def full(_: bytes) -> None:
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left on device"):
        await run_chain(
            recipe(binary), spawner(runner), Password(SECRET), chunks(os.urandom(50_000)), full
        )
    assert child_pids() == before


async def test_a_stuck_chain_times_out_and_leaves_nothing(binary: OpenSSL, runner: str) -> None:
    before = child_pids()
    with pytest.raises(ChainTimeout, match=r"time limit of 0.3 s \(crypto.timeout_s\)"):
        await run_chain(
            recipe(binary),
            spawner(runner),
            Password(SECRET),
            stalled(b"x" * 100),
            Collect(),
            limits=Limits(timeout_s=0.3, grace_s=1.0),
        )
    assert child_pids() == before


# --- secrets ----------------------------------------------------------------------------------


async def test_the_password_is_in_no_childs_argv_or_environment(
    binary: OpenSSL, runner: str
) -> None:
    before = child_pids()
    seen: dict[int, bytes] = {}
    with anyio.CancelScope() as scope:
        async with anyio.create_task_group() as group:

            async def look() -> None:
                for pid in set(await wait_for_children(len(before) + 2)) - before:
                    seen[pid] = await read_after_exec(pid)
                scope.cancel()

            group.start_soon(look)
            await run_chain(
                recipe(binary), spawner(runner), Password(SECRET), stalled(b"x" * 10), Collect()
            )
    assert len(seen) == 2
    for text in seen.values():
        assert b"openssl" in text
        assert SECRET.encode() not in text
    assert any(b"fd:" in text for text in seen.values())
    assert child_pids() == before


def test_a_password_hides_itself_and_refuses_what_openssl_would_misread() -> None:
    assert repr(Password(SECRET)) == "Password(***)"
    with pytest.raises(TypeError, match="not pickled"):
        pickle.dumps(Password(SECRET))
    for bad, reason in [
        ("", "empty"),
        ("two\nlines", "line break"),
        ("cr\r", "line break"),
        ("nul\0", "NUL"),
        ("x" * (MAX_PASSWORD_BYTES + 1), "at most 1023"),
        (b"caf\xe9".decode(errors="surrogateescape"), "not UTF-8"),  # a header's Latin-1
    ]:
        with pytest.raises(BadPassword, match=reason):
            Password(bad)


def test_a_password_is_wiped_once_done_with() -> None:
    given = bytearray(SECRET.encode())
    password = Password(given)
    given[:] = b"x" * len(given)  # the caller's buffer is the caller's: the password kept a copy
    assert str(password) == repr(password) == "Password(***)"
    fd = password.pipe()
    assert os.read(fd, 4096) == SECRET.encode() + b"\n"
    os.close(fd)
    password.wipe()
    assert password.wiped
    with pytest.raises(ValueError, match="wiped"):
        password.pipe()
    password.wipe()  # twice is harmless


def test_the_longest_password_derives_the_key_openssl_derives(binary: OpenSSL) -> None:
    # openssl reads fd:N into a 1024-byte buffer: 1023 bytes and the newline must all count.
    secret = Password("p" * MAX_PASSWORD_BYTES)
    print_key = [binary.path, "enc", "-aes-256-cbc", "-pbkdf2", "-iter", "1", "-S", "00" * 8, "-P"]
    fd = secret.pipe()
    try:
        out = subprocess.run(
            [*print_key, "-pass", f"fd:{fd}"],
            pass_fds=(fd,),
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        os.close(fd)
    key = dict(line.split("=", 1) for line in out.split() if "=" in line)["key"]
    expected = hashlib.pbkdf2_hmac("sha256", b"p" * MAX_PASSWORD_BYTES, bytes(8), 1, 48)[:32]
    assert key.lower() == expected.hex()


# --- nothing left behind ----------------------------------------------------------------------


@pytest.mark.slow
async def test_two_hundred_runs_some_cancelled_some_timed_out_leave_nothing(
    binary: OpenSSL, runner: str
) -> None:
    await encrypt(binary, runner, b"warm-up")  # the event loop's own fds, created once
    children, fds = child_pids(), open_fds()
    outcomes = {"done": 0, "cancelled": 0, "timed out": 0}
    for run in range(200):
        kind = ("done", "cancelled", "timed out")[run % 3]
        if kind == "done":
            await encrypt(binary, runner, os.urandom(run * 37))
        elif kind == "cancelled":
            with anyio.move_on_after(0.02 + (run % 7) * 0.005):
                await run_chain(
                    recipe(binary), spawner(runner), Password(SECRET), stalled(b"y"), Collect()
                )
        else:
            with pytest.raises(ChainTimeout):
                await run_chain(
                    recipe(binary),
                    spawner(runner),
                    Password(SECRET),
                    stalled(b"z" * run),
                    None,
                    limits=Limits(timeout_s=0.01 + (run % 5) * 0.01, grace_s=0.5),
                )
        outcomes[kind] += 1
    assert outcomes == {"done": 67, "cancelled": 67, "timed out": 66}
    assert child_pids() == children
    assert open_fds() == fds


async def test_many_chains_run_at_once(binary: OpenSSL, runner: str) -> None:
    payloads = [os.urandom(4_096 + n) for n in range(20)]
    results: dict[int, tuple[bytes, str]] = {}

    async def one(index: int) -> None:
        results[index] = await encrypt(binary, runner, payloads[index])

    async with anyio.create_task_group() as group:
        for index in range(len(payloads)):
            group.start_soon(one, index)
    for index, payload in enumerate(payloads):
        ciphertext, digest = results[index]
        assert digest == hashlib.sha256(ciphertext).hexdigest()
        assert (await decrypt(binary, runner, ciphertext))[0] == payload


async def test_stop_kills_a_child_that_ignores_sigterm_after_the_grace(runner: str) -> None:
    code = "import signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    code += "print('ready', flush=True); time.sleep(60)"
    child = await spawner(runner).spawn(
        [sys.executable, "-c", code], role="stubborn", stdin=PIPE, stdout=PIPE, pass_fds=()
    )
    assert (await child.read(100)).startswith(b"ready")
    with anyio.fail_after(10):
        await stop(child, grace_s=0.2)
    assert child.returncode == -signal.SIGKILL
    assert child.pid not in child_pids()


# --- stderr summaries -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stderr", "summary"),
    [
        (
            "bad decrypt\n4027:error:1C800064:Provider routines:f:bad decrypt:x.c:124:\n",
            "bad decrypt:",
        ),
        ("bad magic number\n", "does not start with 'Salted__'"),
        (
            "4047:error:1C80006B:Provider routines:fn:wrong final block length:c.c:440:\n",
            "truncated",
        ),
        (
            "4097:error:0308010C:digital envelope routines:inner:unsupported:e.c:386:\n",
            "unsupported",
        ),
        ("enc: Use -help for summary.\n", ""),
        ("", ""),
    ],
)
def test_stderr_is_summarised_in_plain_words(stderr: str, summary: str) -> None:
    got = summarise("enc", stderr)
    assert summary in got
    assert "\n" not in got
    if not summary:
        assert got == ""


async def test_running_out_of_file_descriptors_is_a_clear_error(
    binary: OpenSSL, runner: str
) -> None:
    await encrypt(binary, runner, b"warm-up")  # the event loop's own fds, created once
    before = child_pids()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    highest = max(int(fd) for fd in os.listdir("/proc/self/fd"))
    resource.setrlimit(resource.RLIMIT_NOFILE, (highest + 16, hard))
    filler: list[int] = []
    try:
        with contextlib.suppress(OSError):  # take every free fd, then give two back
            while True:
                filler.append(os.open(os.devnull, os.O_RDONLY))
        for fd in filler[-2:]:
            os.close(fd)
        del filler[-2:]
        with pytest.raises(StartFailed, match=r"too many open files: run fewer jobs at once"):
            await encrypt(binary, runner, b"payload")
    finally:
        for fd in filler:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert child_pids() == before


# --- signals ----------------------------------------------------------------------------------


async def test_signalling_a_child_that_just_exited_never_reaps_it(
    binary: OpenSSL, runner: str, caplog: pytest.LogCaptureFixture
) -> None:
    # A stop sends SIGTERM to a child that may have exited a moment before. Python 3.11's
    # Popen.send_signal polls first, and that poll reaps the child behind asyncio's child
    # watcher, which then logs "Unknown child process pid N" to the user's terminal.
    spawning = spawner(runner)
    for _ in range(60):
        child = await spawning.spawn(
            [binary.path, "dgst", "-sha256"], role="dgst", stdin=PIPE, stdout=PIPE, pass_fds=()
        )
        await child.close_stdin()
        while await child.read(65536):  # until dgst has written its digest and gone
            pass
        child.send_signal(signal.SIGTERM)
        await stop(child, grace_s=1.0)
        assert child.returncode is not None
    assert "Unknown child process" not in caplog.text


async def test_a_pipe_operation_cancelled_before_it_started_is_not_waited_for(
    binary: OpenSSL, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A write or read cancelled while it waited for a thread never runs: closing the child
    # must not wait for it to end. With the idle wait an hour long, a hang would show.
    monkeypatch.setattr("adapters._openssl.thread_child._IDLE_WAIT_S", 3600.0)

    async def full(_: bytes) -> None:
        raise OSError(28, "No space left on device")

    with anyio.fail_after(60), pytest.raises(OSError, match="No space left on device"):
        await run_chain(
            recipe(binary), spawner("thread"), Password(SECRET), chunks(os.urandom(50_000)), full
        )
