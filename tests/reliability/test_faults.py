"""Faults injected into real components: a killed openssl child, an upload target answering
500, a stalled download, a full disk, a job store locked by another process.

Every fault is a real one: a SIGKILL to the daemon's own openssl child, a real aiohttp server
that answers 500 or never answers, a daemon process whose file size limit
(``RLIMIT_FSIZE``) makes its writes fail with EFBIG as on a full disk, and a second process
holding SQLite's write lock. Each test says what the user sees (a job's state and error, an
HTTP status) and what must not be left behind (a child process, a partial file, a lost job).
``anyio.fail_after`` and ``eventually`` guard against hangs; no test asserts a duration.
"""

from __future__ import annotations

import os
import resource
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Final

import anyio
import pytest

from service.client import Client
from service.errors import StoreBusy
from service.jobs.model import Job, JobState
from service.jobs.store.sqlite import SqliteJobStore
from service.system.processes import processes
from service.testing import serve
from tests.api._http import LONG_LIFE, Stalled, eventually, in_background, request, upload
from tests.pipeline._server import Served
from tests.pipeline._server import serve as image_server
from tests.reliability._daemon import fanout_environment, spawned

pytestmark = pytest.mark.anyio

FAST: Final = {"crypto": {"pbkdf2_iterations": 1_000}}
SMALL_LIFE: Final = {"random": "32x32:0.3:1", "generations": 4}
MIB: Final = 1 << 20
HANG_S: Final = 60.0  # a hang guard, never a timing


def _openssl_children() -> dict[int, str]:
    """This process's openssl children (the in-process daemon's): pid -> ``enc`` or ``dgst``.

    The catalog's probes (``openssl enc -list``, ``dgst -list``) are left out: they come and go
    before a job's chain starts.
    """
    found = {}
    me = os.getpid()
    for each in processes():
        if each.parent != me or each.name != "openssl":
            continue
        try:
            argv = Path(f"/proc/{each.pid}/cmdline").read_bytes().decode().split("\0")
        except OSError:
            continue  # gone meanwhile
        if len(argv) > 1 and "-list" not in argv:
            found[each.pid] = argv[1]
    return found


@pytest.mark.parametrize("role", ["enc", "dgst"])
async def test_an_openssl_child_killed_mid_stream_fails_the_job_and_leaves_no_child(
    role: str,
) -> None:
    assert not _openssl_children()
    stalled = Stalled(b"z" * 65536)  # the upload stays open: the job runs until we act
    async with serve(FAST) as client, anyio.create_task_group() as group:
        reply = in_background(group, lambda: upload(client, "encrypt", stalled.chunks()))
        found: dict[int, str] = {}

        async def both_started() -> bool:
            found.clear()
            found.update(_openssl_children())
            return sorted(found.values()) == ["dgst", "enc"]

        await eventually(both_started)
        (victim,) = [pid for pid, name in found.items() if name == role]
        os.kill(victim, signal.SIGKILL)

        async def answered() -> bool:
            return reply() is not None

        await eventually(answered)  # while the body is still stalled: the kill was noticed
        answer = reply()
        assert answer is not None
        assert answer.status == 200
        job = answer.job()
        assert job.status is JobState.FAILED
        assert job.error is not None
        assert job.error.type == "CryptoFailed"
        assert job.error.message.startswith(f"openssl {role} failed (killed by SIGKILL)")
        assert (await client.get(job.id)).status is JobState.FAILED
        ended = await request(client, "GET", f"/v1/jobs/{job.id}/result")
        assert ended.status == 409

        async def reaped() -> bool:
            return not _openssl_children()

        await eventually(reaped)  # the survivor stopped too, and both were reaped
        stalled.release()


def _pipeline(images: Served, **pipeline: object) -> dict[str, dict[str, object]]:
    return {
        "pipeline": {
            "allowed_sources": f"{images.base}/img/,{images.base}/slow/",
            "allow_private": True,  # the image server is on loopback
            "destinations": {
                "plain": f"{images.base}/upload",
                "flaky": f"{images.base}/flaky-upload",
                "broken": f"{images.base}/broken-upload",
            },
            "size": "64x64",
            "format": "png",
            "attempts": 3,
            "backoff_base_s": 0.01,
            "backoff_max_s": 0.05,
            **pipeline,
        }
    }


async def _pipeline_job(client: Client, sources: list[str], destination: str) -> Job:
    job = await client.submit("pipeline", {"sources": sources, "destination": destination})
    done = await client.wait(job.id, timeout_s=HANG_S)
    # The job ends; with an item that failed it ends failed, its manifest kept.
    assert done.result is not None, done.error
    expected = JobState.FAILED if done.result["failed"] else JobState.SUCCEEDED
    assert done.status is expected, done.error
    assert done.artifact is not None
    return done


async def _manifest_items(client: Client, job: Job) -> list[dict[str, Any]]:
    manifest = await request(client, "GET", f"/v1/jobs/{job.id}/result")
    assert manifest.status == 200
    items: list[dict[str, Any]] = manifest.json()["items"]
    return items


async def test_an_upload_answering_500_twice_is_retried_until_it_takes() -> None:
    async with image_server() as images, serve(_pipeline(images)) as client:
        sources = [images.url(f"/img/photo-{n}.jpg") for n in range(2)]
        job = await _pipeline_job(client, sources, "flaky")
        assert job.result is not None
        assert (job.result["succeeded"], job.result["failed"]) == (2, 0)
        for item in await _manifest_items(client, job):
            assert item["error"] is None
            assert item["attempts"]["upload"] == 3
            name = item["name"]
            assert images.hits[f"/flaky-upload/{name}"] == 3
            assert images.uploads[name].startswith(b"\x89PNG")


async def test_an_upload_answering_500_for_good_fails_its_item_and_the_job_still_ends() -> None:
    async with image_server() as images, serve(_pipeline(images)) as client:
        sources = [images.url(f"/img/photo-{n}.jpg") for n in range(2)]
        job = await _pipeline_job(client, sources, "broken")
        assert job.result is not None
        assert (job.result["total"], job.result["succeeded"], job.result["failed"]) == (2, 0, 2)
        items = await _manifest_items(client, job)
        assert [item["source"] for item in items] == sources
        for item in items:
            assert item["stage"] == "upload"
            assert item["name"] is None
            assert "HTTP 500" in item["error"]
            assert f"{images.base}/broken-upload/" in item["error"]
            assert item["attempts"] == {"download": 1, "resize": 1, "upload": 3}
        puts = [count for path, count in images.hits.items() if path.startswith("/broken-upload/")]
        assert puts == [3, 3]
        assert images.uploads == {}


@pytest.mark.parametrize(
    ("timeouts", "reason"),
    [
        ({"read_timeout_s": 0.3}, "timed out reading from http://127.0.0.1:"),
        ({"stage_timeout_s": 0.3}, "timed out after 0.3 s"),
    ],
)
async def test_a_stalled_download_fails_its_item_with_a_timeout(
    timeouts: dict[str, float], reason: str
) -> None:
    async with image_server() as images:
        settings = _pipeline(images, attempts=2, **timeouts)
        async with serve(settings) as client:
            sources = [images.url("/slow/stuck.jpg"), images.url("/img/fine.jpg")]
            with anyio.fail_after(HANG_S):  # the route holds 30 s: the limits must cut it
                job = await _pipeline_job(client, sources, "plain")
            stuck, fine = await _manifest_items(client, job)
    assert stuck["stage"] == "download"
    assert reason in stuck["error"]
    assert stuck["attempts"] == {"download": 2}
    assert images.hits["/slow/stuck.jpg"] == 2
    assert fine["error"] is None


FSIZE_LIMIT: Final = 8 * MIB
"""Room for the store and its WAL, not for the artifact of a 12 MiB upload. Python ignores
SIGXFSZ, so a write past it fails with EFBIG, as a write to a full disk fails with ENOSPC."""


async def test_a_full_disk_fails_the_job_cleanly_and_the_daemon_goes_on(tmp_path: Path) -> None:
    variables = {"FANOUT_CRYPTO__PBKDF2_ITERATIONS": "1000"}
    limits = {resource.RLIMIT_FSIZE: (FSIZE_LIMIT, FSIZE_LIMIT)}
    async with spawned(tmp_path, variables, limits=limits) as daemon, Client(daemon.url) as client:
        with anyio.fail_after(HANG_S):
            reply = await upload(client, "encrypt", os.urandom(12 * MIB))
        assert reply.status == 200, reply.body
        job = reply.job()
        assert job.status is JobState.FAILED
        assert job.error is not None
        assert job.error.message == (
            f"cannot write '{daemon.artifacts / job.id}.bin': File too large"
        ), job.error
        assert sorted(path.name for path in daemon.artifacts.iterdir()) == []
        assert (await request(client, "GET", f"/v1/jobs/{job.id}/result")).status == 409

        small = await upload(client, "encrypt", b"still serving")
        assert small.status == 201, small.body
        kept = small.job()
        assert [path.name for path in daemon.artifacts.iterdir()] == [f"{kept.id}.bin"]
        assert await client.result(kept.id) == (daemon.artifacts / f"{kept.id}.bin").read_bytes()
        assert daemon.survivors() == [daemon.pid]  # no openssl child left
        assert await daemon.stop(within_s=HANG_S) == 0
    assert "Traceback" not in daemon.log, daemon.log


_HOLD_LOCK: Final = (
    "import sqlite3, sys\n"
    "db = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
    "db.execute('BEGIN EXCLUSIVE')\n"
    "print('locked', flush=True)\n"
    "sys.stdin.read()\n"
    "db.execute('ROLLBACK')\n"
)


@asynccontextmanager
async def _locked(store: Path) -> AsyncIterator[None]:
    """Another process holds ``store``'s write lock until the block ends."""
    async with await anyio.open_process([sys.executable, "-c", _HOLD_LOCK, str(store)]) as holder:
        assert holder.stdout is not None
        assert holder.stdin is not None
        with anyio.fail_after(HANG_S):
            assert (await holder.stdout.receive()).strip() == b"locked"
        try:
            yield
        finally:
            await holder.stdin.aclose()  # it rolls back and exits
            with anyio.fail_after(HANG_S):
                assert await holder.wait() == 0


async def _new_store(path: Path) -> None:
    await (await SqliteJobStore.open(path)).aclose()


async def test_a_daemon_refuses_to_start_on_a_store_locked_past_its_busy_timeout(
    tmp_path: Path,
) -> None:
    store = tmp_path / "fanout.sqlite3"
    await _new_store(store)
    env = fanout_environment(
        FANOUT_STORAGE__PATH=str(store),
        FANOUT_STORAGE__ARTIFACTS_DIR=str(tmp_path / "artifacts"),
        FANOUT_STORAGE__BUSY_TIMEOUT_S="0.2",
    )
    command = [sys.executable, "-m", "service", "serve", "--port", "0"]
    async with _locked(store):
        with anyio.fail_after(HANG_S):
            outcome = await anyio.run_process(command, cwd=tmp_path, env=env, check=False)
    stderr = outcome.stderr.decode()
    assert outcome.returncode == 2, stderr
    assert stderr.count("\n") == 1, stderr
    assert stderr.startswith(f"fanout: error: [storage] path '{store}': cannot open the job store")
    assert "database is locked by another process" in stderr
    assert "[storage] busy_timeout_s" in stderr


async def test_a_store_locked_while_running_refuses_writes_with_503_and_loses_nothing(
    tmp_path: Path,
) -> None:
    path = tmp_path / "fanout.sqlite3"
    storage = {"path": str(path), "artifacts_dir": str(tmp_path / "artifacts")}
    settings = {"storage": {**storage, "busy_timeout_s": 0.2}}
    async with serve(settings) as client:
        before = await client.wait((await client.submit("life", SMALL_LIFE)).id, timeout_s=HANG_S)
        assert before.status is JobState.SUCCEEDED
        long = await client.submit("life", LONG_LIFE)

        async def running() -> bool:
            return (await client.get(long.id)).status is JobState.RUNNING

        await eventually(running)
        async with _locked(path):
            with anyio.fail_after(HANG_S):
                refused = await request(
                    client, "POST", "/v1/jobs", json={"kind": "life", "params": SMALL_LIFE}
                )
            assert refused.status == 503, refused.body
            assert int(refused.headers["Retry-After"]) >= 1
            assert refused.error()["type"] == "StoreBusy"
            assert "locked by another process" in refused.error()["message"]
            with pytest.raises(StoreBusy, match="locked by another process"):
                await client.submit("life", SMALL_LIFE)
            # Reads go on (WAL), and a job that ends meanwhile is known as it ended.
            assert (await client.get(before.id)).status is JobState.SUCCEEDED
            assert (await client.cancel(long.id)).status is JobState.CANCELLED
            assert (await client.get(long.id)).status is JobState.CANCELLED

        async def stored() -> bool:
            page = await client.list(status=JobState.CANCELLED)
            return [job.id for job in page.jobs] == [long.id]

        await eventually(stored)  # once the lock is gone, the job's end reaches the store
        after = await client.wait((await client.submit("life", SMALL_LIFE)).id, timeout_s=HANG_S)
        assert after.status is JobState.SUCCEEDED
        listed = {job.id: job.status for job in (await client.list()).jobs}
    assert listed == {
        before.id: JobState.SUCCEEDED,
        long.id: JobState.CANCELLED,
        after.id: JobState.SUCCEEDED,
    }
    reopened = await SqliteJobStore.open(path)  # what the next start would find
    try:
        kept = await reopened.list(status=None, kind=None, limit=10, after=None)
        assert await reopened.check() == "ok"
    finally:
        await reopened.aclose()
    assert {job.id: job.status for job in kept} == listed
