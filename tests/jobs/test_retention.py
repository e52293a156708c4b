"""service.jobs.retention: finished jobs and their files go after [jobs] retention_s."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from service.config import JobSettings, Settings
from service.errors import NotFound
from service.jobs.artifacts import Artifacts
from service.jobs.model import Job, JobState, new_job_id, now
from service.jobs.retention import sweep_interval, sweep_periodically
from service.jobs.store.sqlite import SqliteJobStore
from tests.jobs._harness import finished, make_settings, names, running
from tests.jobs._kinds import GateKind, kinds

pytestmark = pytest.mark.anyio


async def test_old_finished_jobs_and_their_artifacts_are_deleted(tmp_path: Path) -> None:
    gate = GateKind()
    settings = make_settings(tmp_path, retention_s=60)
    async with running(settings, kinds(gate)) as (manager, store):
        done = [await finished(manager, (await manager.submit("count", {})).id) for _ in range(3)]
        paths = [(await manager.artifact(job.id))[0] for job in done]
        live = await manager.submit("gate", {})
        assert await manager.sweep() == 0
        assert await manager.sweep(at=now() + 61) == 3
        for job, path in zip(done, paths, strict=True):
            assert not await anyio.Path(path).exists()
            assert await store.get(job.id) is None
            with pytest.raises(NotFound):
                await manager.get(job.id)
        assert (await manager.get(live.id)).status in (JobState.QUEUED, JobState.RUNNING)
        gate.release()
    assert await names(settings.storage.artifacts_dir) == []


def test_the_sweep_runs_four_times_per_retention_at_most_each_minute() -> None:
    assert sweep_interval(60) == 15
    assert sweep_interval(86_400) == 60


async def test_the_sweeper_runs_by_itself(tmp_path: Path) -> None:
    store = await SqliteJobStore.open(tmp_path / "jobs.sqlite3")
    old = Job(
        id=new_job_id(),
        kind="count",
        status=JobState.SUCCEEDED,
        params={},
        created_at=now() - 20,
        finished_at=now() - 10,
    )
    await store.add(old)
    settings = Settings(jobs=JobSettings(retention_s=1))  # below the configurable minimum
    try:
        async with anyio.create_task_group() as group:
            group.start_soon(sweep_periodically, store, Artifacts(tmp_path / "a"), settings)
            with anyio.fail_after(5):
                while True:  # the sweeper signals nothing: watch the store
                    if await store.get(old.id) is None:
                        break
                    await anyio.sleep(0.05)
            group.cancel_scope.cancel()
    finally:
        await store.aclose()
