"""JobManager.drain: no new jobs, a grace period, then the rest end interrupted."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import anyio
import pytest

from service.errors import Draining
from service.jobs.manager import JobManager
from service.jobs.model import Job, JobState
from service.jobs.store.sqlite import SqliteJobStore
from tests.jobs._harness import eventually, finished, make_settings, running
from tests.jobs._kinds import GateKind, kinds

pytestmark = pytest.mark.anyio


async def test_drain_lets_jobs_finish_within_grace_then_interrupts(tmp_path: Path) -> None:
    gate = GateKind()
    async with running(make_settings(tmp_path, max_running=2), kinds(gate)) as (manager, store):
        stuck = await manager.submit("gate", {})
        quick = await manager.submit("count", {"n": 5, "sleep_s": 0.01})
        await gate.wait_running(1)
        later = await manager.submit("gate", {})
        never = await manager.submit("gate", {})
        async with anyio.create_task_group() as group:
            group.start_soon(manager.drain, 0.3)
            await eventually(lambda: manager.draining)
            with pytest.raises(Draining, match="the daemon is stopping and takes no new jobs"):
                await manager.submit("count", {})
        assert manager.stats().queued == manager.stats().running == 0
        ends = {job.id: await store.get(job.id) for job in (stuck, quick, later, never)}
    assert ends[quick.id] is not None
    assert ends[quick.id].status is JobState.SUCCEEDED  # type: ignore[union-attr]  # not None: asserted on the line above
    messages = {
        stuck.id: "the daemon stopped while it ran",
        later.id: "the daemon stopped while it ran",
        never.id: "the daemon stopped before it started",
    }
    for job_id, message in messages.items():
        job = ends[job_id]
        assert job is not None
        assert job.status is JobState.INTERRUPTED
        assert job.error is not None
        assert job.error.message == message
    assert sorted(gate.cancelled) == sorted([stuck.id, later.id])


async def test_leaving_the_manager_interrupts_running_jobs_only(tmp_path: Path) -> None:
    gate = GateKind()
    settings = make_settings(tmp_path, max_running=1)
    async with running(settings, kinds(gate)) as (manager, _):
        blocked = await manager.submit("gate", {})
        await gate.wait_running(1)
        waiting = await manager.submit("gate", {})
        watcher = manager.events(waiting.id)
        assert (await anext(watcher)).status is JobState.QUEUED
    rest = [job async for job in watcher]  # ends: the job stays queued for the next start
    assert rest == []
    opened = GateKind()
    opened.release()
    async with running(settings, kinds(opened)) as (manager, _):
        assert (await manager.get(blocked.id)).status is JobState.INTERRUPTED
        assert (await finished(manager, waiting.id)).status is JobState.SUCCEEDED


async def test_drain_refuses_uploads_still_waiting_for_a_slot(tmp_path: Path) -> None:
    gate = GateKind()
    refused: list[Draining] = []

    async def upload(manager: JobManager) -> None:
        async def body() -> AsyncIterator[bytes]:
            yield b"late"

        try:
            await manager.submit("upload", {}, payload=body())
        except Draining as exc:
            refused.append(exc)

    async with running(make_settings(tmp_path, max_running=1), kinds(gate)) as (manager, _):
        await manager.submit("gate", {})
        await gate.wait_running(1)
        async with anyio.create_task_group() as group:
            group.start_soon(upload, manager)
            await anyio.wait_all_tasks_blocked()  # the upload now waits for the one slot
            await manager.drain(0.01)
    assert [str(exc) for exc in refused] == [
        "the daemon began to stop before the upload could start: try again"
    ]


async def test_a_submission_still_being_stored_when_the_drain_ends_is_interrupted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The race: a submission passes the draining check, then waits for its row to commit; an
    # idle manager drains meanwhile, at once. The job must not be queued after the drain, where
    # no dispatcher will ever start it and the stopped daemon would leave it "queued".
    storing, stored = anyio.Event(), anyio.Event()
    add = SqliteJobStore.add

    async def slow_add(self: SqliteJobStore, job: Job) -> None:
        storing.set()
        await stored.wait()
        await add(self, job)

    monkeypatch.setattr(SqliteJobStore, "add", slow_add)
    submitted: list[Job] = []
    async with running(make_settings(tmp_path), kinds()) as (manager, store):

        async def submit() -> None:
            submitted.append(await manager.submit("count", {}))

        async with anyio.create_task_group() as group:
            group.start_soon(submit)
            await storing.wait()
            await manager.drain(10.0)  # nothing queued or running yet: it ends at once
            stored.set()
        (job,) = submitted
        assert job.status is JobState.INTERRUPTED
        assert manager.stats().queued == 0
        kept = await store.get(job.id)
    assert kept is not None
    assert kept.status is JobState.INTERRUPTED
    assert kept.error is not None
    assert kept.error.message == "the daemon stopped before it started"


async def test_drain_ends_a_long_line_a_batch_to_a_transaction(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A task, a lock and a turn in the commits per queued job held a stop with 100,000 jobs
    # in line for most of a minute: the line's ends are stored 1,000 to a transaction now.
    batches: list[int] = []
    put_many = SqliteJobStore.put_many

    async def counted(self: SqliteJobStore, jobs: Sequence[Job]) -> None:
        batches.append(len(jobs))
        await put_many(self, jobs)

    gate = GateKind()
    settings = make_settings(tmp_path, max_running=1, max_queued=2000)
    async with running(settings, kinds(gate)) as (manager, store):
        await manager.submit("gate", {})
        await gate.wait_running(1)
        line: list[Job] = []

        async def submit() -> None:
            line.append(await manager.submit("count", {}))

        async with anyio.create_task_group() as group:
            for _ in range(1200):
                group.start_soon(submit)
        seen: list[Job] = []

        async def watch() -> None:
            seen.extend([job async for job in manager.events(line[-1].id)])

        async with anyio.create_task_group() as group:
            group.start_soon(watch)
            await anyio.wait_all_tasks_blocked()
            monkeypatch.setattr(SqliteJobStore, "put_many", counted)
            await manager.drain(0)
            monkeypatch.undo()
        ended = await store.with_status(JobState.INTERRUPTED)
        assert manager.stats().queued == 0
    assert batches == [1000, 200]
    assert {job.id for job in line} <= {job.id for job in ended}
    assert [job.status for job in seen] == [JobState.QUEUED, JobState.INTERRUPTED]
    assert seen[-1] in ended
