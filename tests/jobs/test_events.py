"""service.jobs.events: bounded subscriber buffers, and job events through the manager."""

from __future__ import annotations

from pathlib import Path

import anyio
import msgspec
import pytest

from service.jobs.events import Channel
from service.jobs.model import Job, JobProgress, JobState, new_job_id, now
from tests.jobs._harness import finished, make_settings, running
from tests.jobs._kinds import GateKind, kinds

pytestmark = pytest.mark.anyio


def _job(status: JobState = JobState.QUEUED, done: int = 0) -> Job:
    return Job(
        id="0" * 26,
        kind="count",
        status=status,
        params={},
        created_at=0.0,
        progress=JobProgress(done, 1000),
    )


async def test_a_slow_subscriber_skips_progress_but_never_a_state() -> None:
    channel = Channel(capacity=4)
    with channel.subscribe(_job()) as subscription:
        channel.publish(_job(JobState.RUNNING))
        for done in range(1, 1000):
            channel.publish(_job(JobState.RUNNING, done))
        channel.publish(_job(JobState.SUCCEEDED, 1000))
        seen = [job async for job in subscription]
    assert len(seen) <= 4 + 1
    assert seen[0].status is JobState.QUEUED
    assert seen[-1].status is JobState.SUCCEEDED
    assert JobState.RUNNING in {job.status for job in seen}
    progress = [job.progress.done for job in seen]
    assert progress == sorted(progress)
    assert len(channel) == 0


async def test_every_subscriber_gets_every_snapshot_it_keeps_up_with() -> None:
    channel = Channel()
    first, second = channel.subscribe(_job()), channel.subscribe(_job())
    snapshots = [_job(JobState.RUNNING, done) for done in range(3)]
    for job in snapshots:
        channel.publish(job)
    channel.publish(_job(JobState.FAILED, 3))
    with first, second:
        assert [job async for job in first] == [_job(), *snapshots, _job(JobState.FAILED, 3)]
        assert [job async for job in second] == [_job(), *snapshots, _job(JobState.FAILED, 3)]


async def test_closing_a_channel_ends_its_subscriptions() -> None:
    channel = Channel()
    with channel.subscribe(_job()) as subscription:
        channel.close()
        assert [job async for job in subscription] == [_job()]


async def test_events_start_with_the_snapshot_and_end_after_the_last(tmp_path: Path) -> None:
    gate = GateKind()
    async with running(make_settings(tmp_path), kinds(gate)) as (manager, _):
        job = await manager.submit("gate", {"tag": "a"})
        seen: list[Job] = []
        async with anyio.create_task_group() as group:

            async def watch() -> None:
                seen.extend([snapshot async for snapshot in manager.events(job.id)])

            group.start_soon(watch)
            await gate.wait_running(1)
            gate.release()
        statuses = [snapshot.status for snapshot in seen]
        assert statuses[0] in (JobState.QUEUED, JobState.RUNNING)
        assert statuses[-1] is JobState.SUCCEEDED
        assert JobState.RUNNING in statuses
        replay = [snapshot async for snapshot in manager.events(job.id)]
        assert replay == [seen[-1]]


async def test_a_subscriber_that_never_reads_does_not_hold_the_job_back(tmp_path: Path) -> None:
    async with running(make_settings(tmp_path), kinds()) as (manager, _):
        job = await manager.submit("count", {"n": 40, "sleep_s": 0.005})
        stalled = manager.events(job.id)
        try:
            first = await anext(stalled)
            assert first.id == job.id
            with anyio.fail_after(5):
                done = await finished(manager, job.id)
            rest = [snapshot async for snapshot in stalled]
        finally:
            await stalled.aclose()  # type: ignore[attr-defined]  # an async generator, typed as the iterator it is used as
    assert done.status is JobState.SUCCEEDED
    assert rest[-1] == done
    assert len(rest) <= 16 + 3


def test_new_job_ids_sort_by_creation() -> None:
    ids = [new_job_id() for _ in range(100)]
    assert ids == sorted(ids)
    assert len(set(ids)) == 100
    assert msgspec.json.decode(msgspec.json.encode(_job()), type=Job) == _job()
    assert now() > 0
