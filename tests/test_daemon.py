"""service.daemon: ``fanout serve`` as a real process: it serves, drains on SIGTERM, and refuses
to start, with one line and exit status 2, when it should not."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Final

import anyio
import pytest
from anyio.abc import Process

from service.client import Client
from service.daemon import check_exposure
from service.errors import ConfigError
from service.jobs.model import JobState
from service.jobs.store.sqlite import SqliteJobStore
from tests.api._http import LONG_LIFE

GRACE_S: Final = 1.0
SERVING: Final = "fanout: serving on "


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _environment(**extra: str) -> dict[str, str]:
    """This environment without FANOUT_* variables of the machine, plus ``extra``."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("FANOUT_")}
    return {**env, **extra}


def _serve(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "service", "serve", *args]
    return subprocess.run(
        command, cwd=cwd, env=_environment(**env), capture_output=True, text=True, timeout=60
    )


def _refused(outcome: subprocess.CompletedProcess[str], says: str) -> None:
    assert outcome.returncode == 2, outcome.stderr
    assert outcome.stderr.startswith("fanout: error: ")
    assert outcome.stderr.count("\n") == 1, outcome.stderr
    assert says in outcome.stderr


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "localhost", "127.0.0.2"])
def test_loopback_needs_no_token(host: str) -> None:
    check_exposure(host, None)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10", "example.com"])
def test_anything_else_needs_a_token(host: str) -> None:
    with pytest.raises(ConfigError, match="without a token"):
        check_exposure(host, None)
    check_exposure(host, "a-token")


def test_refuses_0_0_0_0_without_a_token(tmp_path: Path) -> None:
    _refused(_serve(tmp_path, "--host", "0.0.0.0"), "refusing to listen on 0.0.0.0")
    assert not (tmp_path / "var").exists()


def test_refuses_a_taken_port(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        _refused(_serve(tmp_path, "--port", str(port)), f"cannot listen on 127.0.0.1:{port}")


def test_refuses_a_store_it_cannot_open(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    outcome = _serve(tmp_path, "--port", "0", FANOUT_STORAGE__PATH=str(blocker / "jobs.sqlite3"))
    _refused(outcome, "[storage] path")


def test_refuses_a_default_cipher_openssl_lacks(tmp_path: Path) -> None:
    outcome = _serve(tmp_path, "--port", "0", FANOUT_CRYPTO__CIPHER="aes-256-gcm")
    _refused(outcome, "[crypto] cipher: cipher 'aes-256-gcm': openssl enc does not support AEAD")
    assert not (tmp_path / "var").exists()  # refused before the store was made


def test_a_bad_token_file_is_refused_too(tmp_path: Path) -> None:
    outcome = _serve(tmp_path, "--port", "0", FANOUT_HTTP__TOKEN_FILE=str(tmp_path / "nope"))
    _refused(outcome, "token_file")


@asynccontextmanager
async def _daemon(cwd: Path) -> AsyncIterator[tuple[Process, str, list[str]]]:
    """``fanout serve --port 0`` in ``cwd``; its process, URL, and stderr lines so far."""
    command = [sys.executable, "-m", "service", "serve", "--port", "0"]
    env = _environment(FANOUT_JOBS__SHUTDOWN_GRACE_S=str(GRACE_S))
    lines: list[str] = []
    ready = anyio.Event()
    async with (
        await anyio.open_process(command, cwd=cwd, env=env) as process,
        anyio.create_task_group() as group,
    ):

        async def read_stderr() -> None:
            assert process.stderr is not None
            pending = b""
            async for chunk in process.stderr:
                pending += chunk
                *done, pending = pending.split(b"\n")
                lines.extend(line.decode() for line in done)
                if any(line.startswith(SERVING) for line in lines):
                    ready.set()
            ready.set()

        group.start_soon(read_stderr)
        try:
            with anyio.fail_after(60):
                await ready.wait()
            served = [line for line in lines if line.startswith(SERVING)]
            assert served, "\n".join(lines)
            yield process, served[0].removeprefix(SERVING), lines
        finally:
            if process.returncode is None:
                process.kill()
            print("\n".join(lines))  # pytest shows it when the test fails


@pytest.mark.anyio
async def test_sigterm_drains_and_exits_0(tmp_path: Path) -> None:
    async with _daemon(tmp_path) as (process, url, lines):
        assert url.startswith("http://127.0.0.1:")
        async with Client(url) as client:
            job = await client.submit("life", LONG_LIFE)
            async for snapshot in client.events(job.id):
                if snapshot.status is JobState.RUNNING:
                    break
        process.send_signal(signal.SIGTERM)
        with anyio.fail_after(GRACE_S + 20):
            code = await process.wait()
    assert code == 0, "\n".join(lines)
    assert any("stopping signal=SIGTERM" in line for line in lines)
    assert not any("Traceback" in line for line in lines), "\n".join(lines)
    store = await SqliteJobStore.open(tmp_path / "var" / "fanout.sqlite3")
    try:
        stored = await store.get(job.id)
    finally:
        await store.aclose()
    assert stored is not None
    assert stored.status is JobState.INTERRUPTED


@pytest.mark.anyio
async def test_the_access_log_names_the_request_and_hides_secrets(tmp_path: Path) -> None:
    async with _daemon(tmp_path) as (process, url, lines):
        async with Client(url) as client:
            await client.upload("encrypt", b"payload-bytes", password="hunter2-secret")
        process.send_signal(signal.SIGINT)
        with anyio.fail_after(GRACE_S + 20):
            assert await process.wait() == 0
    log = "\n".join(lines)
    assert "http request_id=" in log
    assert "path=/v1/jobs/encrypt status=201" in log
    assert "hunter2-secret" not in log
    assert "payload-bytes" not in log


@pytest.mark.anyio
async def test_a_job_makes_one_access_line_and_a_line_per_state_change(tmp_path: Path) -> None:
    async with _daemon(tmp_path) as (process, url, lines):
        async with Client(url) as client:
            job = await client.submit("life", {"pattern": "bo$2bo$3o!", "generations": 1})
            await client.wait(job.id, timeout_s=60)
        process.send_signal(signal.SIGINT)
        with anyio.fail_after(GRACE_S + 20):
            assert await process.wait() == 0
    about = [line.split(" ", 3)[3] for line in lines if job.id in line]
    access = [line for line in about if line.startswith("http request_id=")]
    assert [line for line in about if line not in access] == [
        f"job {job.id} (life) started",
        f"job {job.id} (life) succeeded",
    ]
    assert f"method=POST path=/v1/jobs status=202 job={job.id} " in access[0]
    assert all(f"path=/v1/jobs/{job.id}" in line for line in access[1:]), access  # the wait's
