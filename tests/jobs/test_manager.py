"""service.jobs.manager: jobs run, limited, refused, cancelled, timed out, listed, on a real
SQLite store and artifacts directory, on asyncio and trio."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import anyio
import pytest

from service.errors import BadParam, Busy, Conflict, LimitExceeded, NotFound, StoreBusy
from service.jobs.artifacts import Artifacts
from service.jobs.kinds import LifeKind
from service.jobs.manager import JobManager
from service.jobs.model import Job, JobState
from service.jobs.store.sqlite import SqliteJobStore
from tests.jobs._harness import finished, make_settings, running
from tests.jobs._kinds import CountKind, GateKind, kinds

pytestmark = pytest.mark.anyio


async def test_a_job_succeeds_with_its_result_and_artifact(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    async with running(settings, kinds()) as (manager, store):
        queued = await manager.submit("count", {"n": 5})
        assert queued.status is JobState.QUEUED
        assert queued.params == {
            "n": 5, "sleep_s": 0.0, "fail": None, "crash": False, "artifact": True,
            "threaded": False, "phantom": False,
        }  # fmt: skip
        done = await finished(manager, queued.id)
        assert done.status is JobState.SUCCEEDED
        assert done.result == {"counted": 5}
        assert done.progress.done == done.progress.total == 5
        assert done.started_at is not None
        assert done.finished_at is not None
        assert done.created_at <= done.started_at <= done.finished_at
        assert done.artifact == f"{done.id}.txt"
        assert await store.get(done.id) == done
        assert await manager.get(done.id) == done
        path, media_type = await manager.artifact(done.id)
        assert path.is_absolute()
        assert (path.parent.name, path.name) == ("artifacts", done.artifact)
        assert await anyio.Path(path).read_text() == "5\n"
        assert media_type == "text/plain"


async def test_params_are_checked_before_anything_is_kept(tmp_path: Path) -> None:
    async with running(make_settings(tmp_path), kinds()) as (manager, _):
        with pytest.raises(BadParam, match=r"params\.n = 'five': expected `int`, got `str`") as bad:
            await manager.submit("count", {"n": "five"})
        assert bad.value.field == "params.n"
        with pytest.raises(BadParam, match="unknown job kind 'nope': choose one of") as bad:
            await manager.submit("nope", {})
        assert bad.value.field == "kind"
        assert "count, gate, secret, upload" in str(bad.value)
        with pytest.raises(BadParam, match="unknown field `m`") as bad:
            await manager.submit("count", {"m": 1})
        assert bad.value.field == "params.m"
        with pytest.raises(LimitExceeded, match="n 20000: must be at most 10000"):
            await manager.submit("count", {"n": 20_000})
        jobs, _ = await manager.list()
        assert jobs == []


async def test_no_more_than_max_running_jobs_run_at_once(tmp_path: Path) -> None:
    count = CountKind()
    async with running(make_settings(tmp_path, max_running=2), kinds(count)) as (manager, _):
        jobs = [await manager.submit("count", {"n": 3, "sleep_s": 0.01}) for _ in range(6)]
        done = [await finished(manager, job.id) for job in jobs]
    assert {job.status for job in done} == {JobState.SUCCEEDED}
    assert count.peak == 2


async def test_no_more_jobs_of_a_kind_run_at_once_than_its_own_bound(tmp_path: Path) -> None:
    count = CountKind(max_running=2)
    async with running(make_settings(tmp_path, max_running=4), kinds(count)) as (manager, _):
        jobs = [await manager.submit("count", {"n": 3, "sleep_s": 0.01}) for _ in range(8)]
        done = [await finished(manager, job.id) for job in jobs]
    assert {job.status for job in done} == {JobState.SUCCEEDED}
    assert count.peak == 2


async def test_a_kind_at_its_own_bound_lets_later_jobs_of_other_kinds_start(
    tmp_path: Path,
) -> None:
    gate = GateKind(max_running=1)
    async with running(make_settings(tmp_path, max_running=3), kinds(gate)) as (manager, _):
        first = await manager.submit("gate", {})
        await gate.wait_running(1)
        second = await manager.submit("gate", {})  # the one gate slot is taken: it waits
        counted = await manager.submit("count", {"n": 2})
        assert (await finished(manager, counted.id)).status is JobState.SUCCEEDED
        assert (await manager.get(second.id)).status is JobState.QUEUED
        assert gate.running == {first.id}
        stats = manager.stats()
        assert (stats.queued, stats.running) == (1, 1)
        gate.release()
        for job in (first, second):
            assert (await finished(manager, job.id)).status is JobState.SUCCEEDED


async def test_max_queued_counts_the_jobs_that_wait_for_their_kind(tmp_path: Path) -> None:
    gate = GateKind(max_running=1)
    settings = make_settings(tmp_path, max_running=2, max_queued=1)
    async with running(settings, kinds(gate)) as (manager, _):
        first = await manager.submit("gate", {})
        await gate.wait_running(1)
        second = await manager.submit("gate", {})  # waits for the gate slot, not for a slot
        with pytest.raises(Busy, match=r"1 jobs are waiting, as many as \[jobs\] max_queued"):
            await manager.submit("gate", {})
        counted = await manager.submit("count", {"n": 1})  # the free slot takes it at once
        assert (await finished(manager, counted.id)).status is JobState.SUCCEEDED
        gate.release()
        for job in (first, second):
            assert (await finished(manager, job.id)).status is JobState.SUCCEEDED


async def test_past_max_queued_waiting_jobs_submit_is_busy(tmp_path: Path) -> None:
    gate = GateKind()
    settings = make_settings(tmp_path, max_running=1, max_queued=2)
    async with running(settings, kinds(gate)) as (manager, _):
        first = await manager.submit("gate", {})
        await gate.wait_running(1)
        waiting = [await manager.submit("gate", {}) for _ in range(2)]
        with pytest.raises(
            Busy, match=r"2 jobs are waiting, as many as \[jobs\] max_queued"
        ) as busy:
            await manager.submit("gate", {})
        assert busy.value.retry_after_s >= 1
        stats = manager.stats()
        assert (stats.queued, stats.running) == (2, 1)
        assert stats.running_by_kind == {"gate": 1}
        gate.release()
        for job in [first, *waiting]:
            assert (await finished(manager, job.id)).status is JobState.SUCCEEDED
        assert manager.stats().finished == {("gate", JobState.SUCCEEDED): 3}


async def test_cancelling_a_queued_job_ends_it_at_once(tmp_path: Path) -> None:
    gate = GateKind()
    async with running(make_settings(tmp_path, max_running=1), kinds(gate)) as (manager, store):
        first = await manager.submit("gate", {})
        await gate.wait_running(1)
        second = await manager.submit("gate", {})
        cancelled = await manager.cancel(second.id)
        assert cancelled.status is JobState.CANCELLED
        assert cancelled.error is not None
        assert cancelled.error.type == "Cancelled"
        assert cancelled.error.message == "cancelled before it started"
        assert await store.get(second.id) == cancelled
        gate.release()
        assert (await finished(manager, first.id)).status is JobState.SUCCEEDED
    assert len(gate.cancelled) == 0


async def test_cancelling_a_running_job_reaches_the_kind(tmp_path: Path) -> None:
    gate = GateKind()
    async with running(make_settings(tmp_path), kinds(gate)) as (manager, store):
        job = await manager.submit("gate", {})
        await gate.wait_running(1)
        cancelled = await manager.cancel(job.id)
        assert cancelled.status is JobState.CANCELLED
        assert cancelled.error is not None
        assert cancelled.error.message == "cancelled while it ran"
        assert gate.cancelled == [job.id]
        assert await store.get(job.id) == cancelled
        with pytest.raises(Conflict, match=f"job {job.id} is cancelled: only a queued or running"):
            await manager.cancel(job.id)
        with pytest.raises(NotFound, match="no job has the id 'f00'"):
            await manager.cancel("f00")


async def test_a_job_past_its_time_limit_fails_timed_out(tmp_path: Path) -> None:
    slow = CountKind(timeout_s=0.05)
    async with running(make_settings(tmp_path), kinds(slow)) as (manager, _):
        job = await manager.submit("count", {"n": 1000, "sleep_s": 0.01})
        done = await finished(manager, job.id)
    assert done.status is JobState.FAILED
    assert done.error is not None
    assert done.error.type == "TimedOut"
    assert done.error.message == "the job ran past its time limit of 0.05 s and was stopped"
    assert slow.cancelled == 1
    assert done.artifact is None


async def test_failing_and_crashing_kinds_fail_the_job_not_the_manager(tmp_path: Path) -> None:
    async with running(make_settings(tmp_path), kinds()) as (manager, _):
        failing = await manager.submit("count", {"fail": "worker 3 fell over"})
        crashing = await manager.submit("count", {"crash": True})
        failed, crashed = await finished(manager, failing.id), await finished(manager, crashing.id)
        assert failed.status is crashed.status is JobState.FAILED
        assert failed.error is not None
        assert (failed.error.type, failed.error.message) == ("WorkerError", "worker 3 fell over")
        assert crashed.error is not None
        assert crashed.error.type == "ZeroDivisionError"
        assert crashed.error.message == "division by zero in the count"
        with pytest.raises(Conflict, match=f"job {failed.id} failed: it made no artifact"):
            await manager.artifact(failed.id)
        after = await manager.submit("count", {"n": 1})
        assert (await finished(manager, after.id)).status is JobState.SUCCEEDED


async def test_artifact_conflicts_say_why_there_is_none(tmp_path: Path) -> None:
    gate = GateKind()
    async with running(make_settings(tmp_path), kinds(gate)) as (manager, _):
        plain = await manager.submit("count", {"artifact": False})
        assert (await finished(manager, plain.id)).artifact is None
        with pytest.raises(Conflict, match="made no artifact: its result is in the job itself"):
            await manager.artifact(plain.id)
        blocked = await manager.submit("gate", {})
        with pytest.raises(Conflict, match=f"job {blocked.id} is (queued|running): its artifact"):
            await manager.artifact(blocked.id)
        with pytest.raises(NotFound):
            await manager.artifact("0" * 26)
        gate.release()


async def test_list_pages_newest_first_without_gaps_or_repeats(tmp_path: Path) -> None:
    async with running(make_settings(tmp_path, max_running=4), kinds()) as (manager, _):
        submitted = [await manager.submit("count", {"n": 1}) for _ in range(7)]
        failed = await manager.submit("count", {"fail": "no"})
        for job in [*submitted, failed]:
            await finished(manager, job.id)
        seen: list[Job] = []
        cursor: str | None = None
        while True:
            page, cursor = await manager.list(kind="count", limit=3, cursor=cursor)
            seen.extend(page)
            if cursor is None:
                break
        assert [job.id for job in seen] == [job.id for job in reversed([*submitted, failed])]
        exact, last = await manager.list(limit=8)
        assert (len(exact), last) == (8, None)
        only_failed, _ = await manager.list(status=JobState.FAILED)
        assert [job.id for job in only_failed] == [failed.id]
        assert await manager.list(kind="gate") == ([], None)
        with pytest.raises(BadParam, match="limit 0: must be from 1 to 500") as bad:
            await manager.list(limit=0)
        assert bad.value.field == "limit"
        with pytest.raises(BadParam, match="cursor 'x; DROP TABLE jobs'") as bad:
            await manager.list(cursor="x; DROP TABLE jobs")
        assert bad.value.field == "cursor"


async def test_progress_reported_from_threads_is_published(tmp_path: Path) -> None:
    async with running(make_settings(tmp_path), kinds()) as (manager, _):
        job = await manager.submit("count", {"n": 30, "sleep_s": 0.01, "threaded": True})
        seen = [snapshot.progress.done async for snapshot in manager.events(job.id)]
    assert seen[0] == 0
    assert seen[-1] == 30
    assert any(0 < done < 30 for done in seen)
    assert seen == sorted(seen)


async def test_progress_is_stored_while_a_job_runs(tmp_path: Path) -> None:
    async with running(make_settings(tmp_path), kinds()) as (manager, store):
        job = await manager.submit("count", {"n": 30, "sleep_s": 0.05})
        with anyio.fail_after(5):
            while True:
                stored = await store.get(job.id)
                assert stored is not None
                if stored.status is JobState.RUNNING and stored.progress.done > 0:
                    break
                await anyio.sleep(0.05)
        assert stored.progress.total == 30
        await manager.cancel(job.id)


async def test_a_job_that_ends_while_the_store_is_locked_is_kept_once_it_is_free(
    tmp_path: Path,
) -> None:
    settings = make_settings(tmp_path)
    gate = GateKind()
    store = await SqliteJobStore.open(settings.storage.path, busy_timeout_s=0.05)
    holder = sqlite3.connect(settings.storage.path, isolation_level=None)  # another writer
    try:
        artifacts = Artifacts(settings.storage.artifacts_dir)
        async with JobManager(settings, store, kinds(gate), artifacts=artifacts) as manager:
            job = await manager.submit("gate", {})
            await gate.wait_running(1)
            holder.execute("BEGIN EXCLUSIVE")
            with pytest.raises(StoreBusy, match="locked by another process"):
                await manager.submit("gate", {})
            gate.release()
            ended = await finished(manager, job.id)
            assert ended.status is JobState.SUCCEEDED
            stored = await store.get(job.id)
            assert stored is not None
            assert stored.status is JobState.RUNNING  # the store refused the end, for now
            assert await manager.get(job.id) == ended
            assert (await manager.list())[0] == [ended]
            holder.execute("ROLLBACK")
            with anyio.fail_after(10):
                # Polling: the manager stores it again by itself, with no event to await.
                while await store.get(job.id) != ended:  # noqa: ASYNC110  # polling: there is no event to wait on
                    await anyio.sleep(0.05)
    finally:
        holder.close()
        await store.aclose()


async def test_get_and_events_of_an_unknown_job_are_not_found(tmp_path: Path) -> None:
    async with running(make_settings(tmp_path), kinds()) as (manager, _):
        with pytest.raises(NotFound, match=r"no job has the id '\.\./etc/passwd'"):
            await manager.get("../etc/passwd")
        with pytest.raises(NotFound):
            async for _ in manager.events("1" * 26):
                pass


async def test_submit_before_the_manager_runs_is_an_error(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    store = await SqliteJobStore.open(settings.storage.path)
    try:
        manager = JobManager(settings, store, kinds(), artifacts=Artifacts(tmp_path / "a"))
        with pytest.raises(RuntimeError, match="not running: enter it with 'async with'"):
            await manager.submit("count", {})
    finally:
        await store.aclose()


@pytest.mark.parametrize("worker_processes", [0, 2])
async def test_life_jobs_run_in_the_worker_processes_which_end_with_the_manager(
    tmp_path: Path, worker_processes: int
) -> None:
    settings = make_settings(tmp_path, worker_processes=worker_processes)
    params = {"pattern": "bo$2bo$3o!", "generations": 4}
    async with running(settings, {"life": LifeKind()}) as (manager, _):
        jobs = [await manager.submit("life", params) for _ in range(6)]
        done = [await finished(manager, job.id) for job in jobs]
        workers = set(manager.worker_pids)
    assert [job.status for job in done] == [JobState.SUCCEEDED] * 6
    assert {job.result["population"] for job in done if job.result} == {5}
    assert all(job.progress.done == job.progress.total == 4 for job in done)
    assert 1 <= len(workers) <= 2 if worker_processes else workers == set()
    for pid in workers:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)  # stopped and reaped when the manager ended
