"""service.jobs.context through the manager: payload jobs (uploads streamed into the job),
their byte limit, and their place outside the queue."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest

from service.crypto import Password
from service.errors import Busy
from service.jobs.artifacts import Artifacts
from service.jobs.context import RunContext
from service.jobs.model import Job, JobProgress, JobState, new_job_id, now
from tests.jobs._harness import eventually, finished, make_settings, names, running
from tests.jobs._kinds import GateKind, UploadKind, kinds

pytestmark = pytest.mark.anyio


async def _chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        await anyio.lowlevel.checkpoint()
        yield part


def test_the_context_gives_the_job_its_place_and_keeps_progress(tmp_path: Path) -> None:
    job = Job(id=new_job_id(), kind="count", status=JobState.RUNNING, params={}, created_at=now())
    context = RunContext(job, make_settings(tmp_path), Artifacts(tmp_path), secret=Password("s3"))
    assert context.artifact_path(".rle") == tmp_path / f"{job.id}.rle"
    context.progress(3, 10)
    assert context.latest == JobProgress(3, 10)
    assert "s3" not in repr(context)


async def test_a_payload_job_returns_once_finished(tmp_path: Path) -> None:
    async with running(make_settings(tmp_path), kinds()) as (manager, store):
        job = await manager.submit("upload", {}, payload=_chunks(b"hello ", b"world"))
        assert job.status is JobState.SUCCEEDED
        assert job.result == {"bytes": 11}
        path, _ = await manager.artifact(job.id)
        assert await anyio.Path(path).read_bytes() == b"hello world"
        assert await store.get(job.id) == job


async def test_a_payload_past_its_limit_fails_the_job(tmp_path: Path) -> None:
    async with running(make_settings(tmp_path, max_payload_bytes=8), kinds()) as (manager, _):
        job = await manager.submit("upload", {}, payload=_chunks(b"12345", b"67890"))
    assert job.status is JobState.FAILED
    assert job.error is not None
    assert job.error.type == "PayloadTooLarge"
    assert "larger than the limit of 8 bytes ([crypto] max_payload_bytes)" in job.error.message
    assert await names(tmp_path / "artifacts") == []


async def test_payload_jobs_wait_for_a_slot_but_not_in_the_queue(tmp_path: Path) -> None:
    gate = GateKind()
    settings = make_settings(tmp_path, max_running=1, max_queued=0)
    async with running(settings, kinds(gate)) as (manager, _):
        blocking = await manager.submit("gate", {})
        await gate.wait_running(1)
        with pytest.raises(Busy):
            await manager.submit("gate", {})
        uploaded: list[Job] = []

        async def upload() -> None:
            uploaded.append(await manager.submit("upload", {}, payload=_chunks(b"x")))

        async with anyio.create_task_group() as group:
            group.start_soon(upload)
            await anyio.wait_all_tasks_blocked()
            assert uploaded == []  # waiting for the one slot
            gate.release()
        assert (await finished(manager, blocking.id)).status is JobState.SUCCEEDED
        assert uploaded[0].status is JobState.SUCCEEDED


async def test_an_upload_waits_for_its_kinds_slot_and_holds_no_other(tmp_path: Path) -> None:
    opened = anyio.Event()

    async def held_open() -> AsyncIterator[bytes]:
        yield b"a"
        await opened.wait()
        yield b"b"

    settings = make_settings(tmp_path, max_running=2)
    async with running(settings, kinds(UploadKind(max_running=1))) as (manager, _):
        uploaded: list[Job] = []

        async def upload(payload: AsyncIterator[bytes]) -> None:
            uploaded.append(await manager.submit("upload", {}, payload=payload))

        async with anyio.create_task_group() as group:
            group.start_soon(upload, held_open())
            await eventually(lambda: manager.stats().running == 1)
            group.start_soon(upload, _chunks(b"c"))
            await anyio.wait_all_tasks_blocked()
            assert uploaded == []  # the second waits for the one upload slot
            counted = await manager.submit("count", {"n": 1})  # and leaves the other free
            assert (await finished(manager, counted.id)).status is JobState.SUCCEEDED
            opened.set()
        assert [job.status for job in uploaded] == [JobState.SUCCEEDED] * 2
        assert [job.result for job in uploaded] == [{"bytes": 2}, {"bytes": 1}]


async def test_a_caller_that_goes_away_cancels_its_upload(tmp_path: Path) -> None:
    async def endless() -> AsyncIterator[bytes]:
        while True:
            yield b"x" * 100
            await anyio.sleep(0.001)

    async with running(make_settings(tmp_path), kinds()) as (manager, _):

        async def upload() -> None:
            await manager.submit("upload", {}, payload=endless())

        async with anyio.create_task_group() as group:
            group.start_soon(upload)
            await eventually(lambda: manager.stats().running == 1)
            group.cancel_scope.cancel()
        (job,), _ = await manager.list()
    assert job.status is JobState.CANCELLED
    assert job.error is not None
    assert job.error.message == "cancelled while it ran"
    assert await names(tmp_path / "artifacts") == []
