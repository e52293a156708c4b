"""SIGKILL to a real ``fanout serve`` (and its session) in the middle of 200 mixed jobs, then a
new daemon on the same directory: nothing taken is lost, nothing half-written is served.

What the crash leaves, and what the next start must make of it:

- the SQLite store passes ``PRAGMA integrity_check``, as the crash left it and after the restart;
- every job the first daemon answered 202, 201 or 200 for is in it; a job that was ``running``
  ends ``interrupted``, a ``queued`` one runs again to its end (or, when its password lived in
  the dead process only, ends ``interrupted`` saying so), a finished one stays as it was;
- the artifacts of finished jobs are whole: decrypting an encrypt job's ciphertext gives back
  what was sent, a decrypt job gives the plaintext, a Life job's RLE parses to the population
  the job reported, a pipeline job's manifest names every source;
- the partial files of the writes the crash cut short (the stalled uploads' ciphertexts) are
  gone, and no file is left that no succeeded job refers to; an interrupted job's result is 409;
- openssl children, in sessions of their own, do not outlive the crash for long: their pipes
  close with the daemon and they exit.

``anyio.fail_after`` and ``eventually`` guard against hangs; no test asserts a duration.
"""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
from collections import Counter
from contextlib import suppress
from pathlib import Path
from typing import Final

import aiohttp
import anyio
import msgspec
import pytest

from service.client import Client
from service.jobs.model import TERMINAL, Job, JobState
from service.jobs.store.sqlite import SqliteJobStore
from service.jobs.transitions import LOST_SECRET, WHILE_RUNNING
from service.life.formats import read_pattern
from tests.api._http import eventually, request
from tests.pipeline._server import Served
from tests.pipeline._server import serve as image_server
from tests.reliability._daemon import Spawned, spawned
from tests.reliability._load import (
    PLAINTEXT,
    RUNNERS,
    Descendants,
    Load,
    Spec,
    daemon_variables,
    decrypted,
    encrypted,
    mixed_load,
)

pytestmark = pytest.mark.anyio

GRACE_S: Final = 2.0
HANG_S: Final = 60.0


@pytest.mark.parametrize("runner", RUNNERS)  # [crypto] runner
@pytest.mark.slow
async def test_sigkill_under_load_then_restart_loses_no_job_and_serves_no_half_file(
    tmp_path: Path, runner: str
) -> None:
    delivered = tmp_path / "delivered"
    delivered.mkdir()
    async with image_server() as images:
        variables = daemon_variables(images, delivered, grace_s=GRACE_S, runner=runner)
        async with spawned(tmp_path, variables) as first:
            watch = Descendants(first.pid)
            load = await _sigkill_under_load(first, watch, images)
            partials = sorted(path.name for path in first.artifacts.glob("*.part"))
        assert "Traceback" not in first.log, first.log
        await eventually(lambda: _none_alive(watch), within_s=HANG_S)
        crashed = await _crash_image(first, tmp_path / "image")
        _check_answers(load)
        accepted = {job_id: sent.spec for job_id, sent in load.accepted().items()}
        assert sorted(set(accepted) - set(crashed)) == []
        assert sorted(set(load.stalled) - set(crashed)) == []
        # The crash cut the stalled uploads' ciphertexts short: their partial files are left.
        for job_id in load.stalled:
            assert crashed[job_id].status is JobState.RUNNING
            assert any(name.startswith(f".{job_id}.") for name in partials), partials

        async with spawned(tmp_path, variables) as second, Client(second.url) as client:
            assert sorted(path.name for path in second.artifacts.glob("*.part")) == []
            await eventually(lambda: _settled(client), within_s=HANG_S)
            jobs = {job_id: await client.get(job_id) for job_id in crashed}
            _check_recovered(crashed, jobs, accepted)
            await _check_results(client, jobs, accepted)
            _check_files(second.artifacts, await _all_jobs(client))
            assert await second.stop(signal.SIGTERM, within_s=GRACE_S + HANG_S) == 0
    assert "Traceback" not in second.log, second.log
    assert _integrity(second.store) == "ok"
    states = Counter(job.status for job in jobs.values())
    print(f"accepted {len(accepted)}, stalled {len(load.stalled)}; before: ", end="")
    print(f"{Counter(job.status for job in crashed.values())}; after: {states}")


async def _sigkill_under_load(first: Spawned, watch: Descendants, images: Served) -> Load:
    """Start the load; once jobs run and wait and the stalled uploads are writing their
    ciphertexts, SIGKILL the daemon and every process of its session."""
    connector = aiohttp.TCPConnector(limit=0)
    async with (
        Client(first.url) as client,
        aiohttp.ClientSession(connector=connector) as session,
        anyio.create_task_group() as watching,
    ):
        watching.start_soon(watch.watch)
        load = Load(mixed_load(images, await encrypted(client, PLAINTEXT)))

        async def mid_write() -> bool:
            return await load.in_the_middle(client) and all(
                any(first.artifacts.glob(f".{job_id}.*.part")) for job_id in load.stalled
            )

        with anyio.fail_after(2 * HANG_S):
            async with anyio.create_task_group() as group:
                load.start(group, session, first.url)
                await eventually(mid_write, within_s=HANG_S)
                load.act()
                watch.look()
                _crash(first)
                assert await first.process.wait() == -signal.SIGKILL
        load.release()
        watching.cancel_scope.cancel()
    return load


def _crash(daemon: Spawned) -> None:
    """SIGKILL the daemon, then whatever is left of its session (pool workers, forkserver)."""
    os.kill(daemon.pid, signal.SIGKILL)
    for pid in daemon.survivors():
        with suppress(ProcessLookupError):  # gone meanwhile
            os.kill(pid, signal.SIGKILL)


async def _none_alive(watch: Descendants) -> bool:
    return watch.alive() == []


async def _crash_image(first: Spawned, scratch: Path) -> dict[str, Job]:
    """The store as the crash left it, read from a copy (the next daemon starts on the
    original); it passes SQLite's integrity check."""
    copy = await anyio.to_thread.run_sync(_copy_store, first.store, scratch)
    assert _integrity(copy) == "ok"
    store = await SqliteJobStore.open(copy)
    try:
        found = await store.list(status=None, kind=None, limit=10_000, after=None)
    finally:
        await store.aclose()
    return {job.id: job for job in found}


def _copy_store(store: Path, scratch: Path) -> Path:
    scratch.mkdir()
    for path in store.parent.glob(f"{store.name}*"):  # the database, -wal, -shm
        shutil.copy2(path, scratch / path.name)
    return scratch / store.name


def _integrity(path: Path) -> str:
    db = sqlite3.connect(path)
    try:
        return "; ".join(str(row[0]) for row in db.execute("PRAGMA integrity_check"))
    finally:
        db.close()


def _check_answers(load: Load) -> None:
    """Every JSON submission was answered (before the crash); an upload was answered, or cut
    by the crash, as the stalled ones were."""
    for sent in load.sent:
        if sent.spec.route == "json":
            assert sent.reply is not None, repr(sent.failure)
            assert sent.reply.status == 202, sent.reply.body
        elif sent.reply is not None:
            assert sent.spec.route == "upload"
            assert sent.reply.status in (200, 201), sent.reply.body
        else:
            assert isinstance(sent.failure, aiohttp.ClientConnectionError), repr(sent.failure)


async def _settled(client: Client) -> bool:
    """Whether the jobs the new daemon took up have all ended."""
    for status in (JobState.QUEUED, JobState.RUNNING):
        if (await client.list(status=status, limit=1)).jobs:
            return False
    return True


def _check_recovered(
    crashed: dict[str, Job], jobs: dict[str, Job], accepted: dict[str, Spec]
) -> None:
    """Running: interrupted. Queued: run again, or interrupted without their password.
    Finished: as they were."""
    for job_id, before in crashed.items():
        after = jobs[job_id]
        assert after.status in TERMINAL, after
        if before.status is JobState.RUNNING:
            assert after.status is JobState.INTERRUPTED, after
            assert after.error is not None
            assert after.error.message == WHILE_RUNNING
        elif before.status is JobState.QUEUED and before.needs_secret:
            assert after.status is JobState.INTERRUPTED, after
            assert after.error is not None
            assert after.error.message == LOST_SECRET
        elif before.status is JobState.QUEUED:
            assert after.status is JobState.SUCCEEDED, after  # every kind the load has succeeds
        else:
            assert after == before
    assert Counter(before.status for before in crashed.values())[JobState.QUEUED] > 0
    assert all(
        jobs[job_id].status is JobState.INTERRUPTED
        for job_id, spec in accepted.items()
        if spec.holds
    )


async def _check_results(client: Client, jobs: dict[str, Job], accepted: dict[str, Spec]) -> None:
    """Every succeeded job's artifact is whole; an interrupted job has none (409)."""
    for job_id, job in jobs.items():
        if job.status is JobState.INTERRUPTED:
            reply = await request(client, "GET", f"/v1/jobs/{job_id}/result")
            assert reply.status == 409, reply.body
        elif job.status is JobState.SUCCEEDED and job_id in accepted:
            await _check_artifact(client, job, accepted[job_id])


async def _check_artifact(client: Client, job: Job, spec: Spec) -> None:
    artifact = await client.result(job.id)
    assert job.result is not None
    if job.kind == "life":
        assert read_pattern(artifact).population == job.result["population"]
    elif job.kind == "encrypt":
        assert await decrypted(client, artifact) == spec.plaintext
    elif job.kind == "decrypt":
        assert artifact == spec.plaintext
    else:
        manifest = msgspec.json.decode(artifact)
        assert [item["source"] for item in manifest["items"]] == spec.params["sources"]


async def _all_jobs(client: Client) -> list[Job]:
    found: list[Job] = []
    cursor: str | None = None
    while True:
        page = await client.list(limit=500, cursor=cursor)
        found.extend(page.jobs)
        if page.next is None:
            return found
        cursor = page.next


def _check_files(artifacts: Path, jobs: list[Job]) -> None:
    """No partial file is left, and every file is a succeeded job's artifact."""
    assert sorted(path.name for path in artifacts.glob("*.part")) == []
    kept = {job.artifact for job in jobs if job.status is JobState.SUCCEEDED and job.artifact}
    assert sorted(name for name in kept if not (artifacts / name).is_file()) == []
    strays = [path.name for path in artifacts.iterdir() if path.name not in kept]
    assert strays == []
