"""service.jobs.recovery: a new manager on the same SQLite file after a stop or a crash."""

from __future__ import annotations

from pathlib import Path

import anyio
import msgspec
import pytest

from service.jobs.model import Job, JobState, new_job_id, now
from service.jobs.store.sqlite import SqliteJobStore
from tests.jobs._harness import finished, make_settings, running
from tests.jobs._kinds import PASSWORD, GateKind, kinds

pytestmark = pytest.mark.anyio


async def test_a_restart_interrupts_the_running_and_reruns_the_queued(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, max_running=1)
    gate = GateKind()
    async with running(settings, kinds(gate)) as (manager, store):
        done = await finished(manager, (await manager.submit("count", {"n": 2})).id)
        blocked = await manager.submit("gate", {})
        await gate.wait_running(1)
        queued = await manager.submit("count", {"n": 4})
        secret = await manager.submit("secret", {"text": "hi"}, secret=PASSWORD)
    assert gate.cancelled == [blocked.id]
    # What a crash leaves: a job still marked running, and half an artifact.
    crashed = msgspec.structs.replace(
        Job(id=new_job_id(), kind="count", status=JobState.QUEUED, params={}, created_at=now()),
        status=JobState.RUNNING,
        started_at=now(),
    )
    orphan = Job(id=new_job_id(), kind="gone", status=JobState.QUEUED, params={}, created_at=now())
    partial = Path(settings.storage.artifacts_dir) / f"{crashed.id}.txt.1234abcd.part"
    store = await SqliteJobStore.open(settings.storage.path)
    await store.add(crashed)
    await store.add(orphan)
    await store.aclose()
    await anyio.Path(partial).write_bytes(b"half an artif")

    async with running(settings, kinds()) as (manager, store):
        assert not await anyio.Path(partial).exists()
        reran = await finished(manager, queued.id)
        assert reran.status is JobState.SUCCEEDED
        assert reran.result == {"counted": 4}
        expected = {
            blocked.id: "the daemon stopped while it ran",
            crashed.id: "the daemon stopped while it ran",
            secret.id: "its password was not kept across the restart",
            orphan.id: "its kind 'gone' is no longer served",
        }
        for job_id, message in expected.items():
            job = await manager.get(job_id)
            assert job.status is JobState.INTERRUPTED, job
            assert job.error is not None
            assert (job.error.type, job.error.message) == ("Interrupted", message)
        assert await manager.get(done.id) == done
        path, _ = await manager.artifact(done.id)
        assert await anyio.Path(path).read_text() == "2\n"
        assert await store.check() == "ok"
