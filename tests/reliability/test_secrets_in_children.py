"""No child of ``fanout`` sees a secret: not the CLI's, not the daemon's, on either runner.

``FANOUT_PASSWORD`` and ``FANOUT_TOKEN`` are set in the environment the command starts with;
every descendant (openssl children, multiprocessing's forkserver and resource tracker, the
job worker processes) is read while it runs, ``/proc/PID/cmdline`` and ``environ`` both.
"""

from __future__ import annotations

import base64
import sys
from pathlib import Path
from typing import Final

import anyio
import pytest

from service.client import Client
from service.jobs.model import JobState
from service.system.processes import descendants
from tests.api._http import eventually
from tests.reliability._daemon import fanout_environment, spawned

pytestmark = pytest.mark.anyio

ENV_PASSWORD: Final = "env-password-b7c1e"
TOKEN: Final = "env-token-5d0f3a"
JOB_PASSWORD: Final = "job-password-91aa2"
SECRETS: Final = (ENV_PASSWORD, TOKEN, JOB_PASSWORD)
# Enough PBKDF2 rounds that openssl is still deriving its key whenever we look.
SLOW_ITERATIONS: Final = 30_000_000


def _after_exec(pid: int, parent: bytes) -> bytes | None:
    """cmdline and environ of ``pid`` once it runs its own program; None until then.

    Between fork and exec a child is still a copy of its parent, and reads as the parent (or
    as nothing): only a read whose cmdline is neither empty nor ``parent``'s is the child's.
    """
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        environ = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return None
    return cmdline + b"\0" + environ if cmdline not in (b"", parent) else None


async def _read_descendants(root: int, *, at_least: int, named: bytes) -> dict[int, bytes]:
    """Every descendant of ``root``, read after its exec, once ``at_least`` of them are
    running a command line that holds ``named``."""
    seen: dict[int, bytes] = {}
    parent = await anyio.Path(f"/proc/{root}/cmdline").read_bytes()

    async def enough() -> bool:
        for pid in descendants(root):
            if (text := _after_exec(pid, parent)) is not None:
                seen[pid] = text
        return sum(named in text for text in seen.values()) >= at_least

    await eventually(enough)
    return seen


def _assert_no_secret(seen: dict[int, bytes]) -> None:
    assert seen
    for pid, text in seen.items():
        for secret in SECRETS:
            assert secret.encode() not in text, f"{secret!r} is in process {pid}"
        assert b"FANOUT_PASSWORD" not in text
        assert b"FANOUT_TOKEN" not in text


@pytest.mark.parametrize("runner", ["async", "thread"])
async def test_the_cli_gives_its_openssl_children_no_secret(tmp_path: Path, runner: str) -> None:
    env = fanout_environment(
        FANOUT_PASSWORD=ENV_PASSWORD,
        FANOUT_TOKEN=TOKEN,
        FANOUT_CRYPTO__PBKDF2_ITERATIONS=str(SLOW_ITERATIONS),
    )
    command = [sys.executable, "-m", "service", "encrypt", "-", "-o", str(tmp_path / "x.enc")]
    async with await anyio.open_process(
        [*command, "--runner", runner], env=env, start_new_session=True
    ) as process:
        assert process.stdin is not None
        await process.stdin.send(b"plaintext" * 1000)
        try:
            seen = await _read_descendants(process.pid, at_least=2, named=b"openssl")
        finally:
            process.kill()
    _assert_no_secret(seen)


@pytest.mark.parametrize("runner", ["async", "thread"])
async def test_the_daemon_gives_its_children_no_secret(tmp_path: Path, runner: str) -> None:
    variables = {
        "FANOUT_PASSWORD": ENV_PASSWORD,
        "FANOUT_TOKEN": TOKEN,
        "FANOUT_CRYPTO__RUNNER": runner,
    }
    async with spawned(tmp_path, variables) as daemon, Client(daemon.url, token=TOKEN) as client:
        # A small Life job runs in a worker process, started through the forkserver.
        life = await client.submit("life", {"random": "32x32:0.3:1", "generations": 4})
        assert (await client.wait(life.id, timeout_s=60)).status is JobState.SUCCEEDED
        params = {
            "data": base64.b64encode(b"secret plaintext").decode(),
            "iterations": SLOW_ITERATIONS,
        }
        job = await client.submit("encrypt", params, password=JOB_PASSWORD)
        seen = await _read_descendants(daemon.pid, at_least=2, named=b"openssl")
        await client.cancel(job.id)
    assert any(b"multiprocessing.forkserver" in text for text in seen.values())
    _assert_no_secret(seen)
