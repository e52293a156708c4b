"""service.jobs.store.sqlite: the store on a real SQLite file, its queries, the files it refuses."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import msgspec
import pytest

from service.errors import FanoutError, StoreBusy
from service.jobs.model import Job, JobError, JobState, new_job_id
from service.jobs.store.sqlite import _SCHEMA, SqliteJobStore

pytestmark = pytest.mark.anyio


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteJobStore]:
    opened = await SqliteJobStore.open(tmp_path / "deep" / "jobs.sqlite3")
    yield opened
    await opened.aclose()


def _job(kind: str = "life", status: JobState = JobState.QUEUED, **fields: object) -> Job:
    job = Job(id=new_job_id(), kind=kind, status=status, params={"n": 1}, created_at=1.0)
    return msgspec.structs.replace(job, **fields)


async def test_jobs_round_trip_and_are_replaced_by_id(store: SqliteJobStore) -> None:
    job = _job()
    await store.add(job)
    assert await store.get(job.id) == job
    ended = msgspec.structs.replace(
        job, status=JobState.FAILED, finished_at=5.0, error=JobError("WorkerError", "boom")
    )
    await store.put(ended)
    assert await store.get(job.id) == ended
    with pytest.raises(FanoutError, match="failed: UNIQUE constraint failed"):
        await store.add(job)
    await store.delete(job.id)
    assert await store.get(job.id) is None
    await store.delete(job.id)
    assert await store.check() == "ok"


async def test_queries_filter_and_order_as_the_manager_needs(store: SqliteJobStore) -> None:
    jobs = [
        _job("life"),
        _job("encrypt", JobState.RUNNING),
        _job("life", JobState.SUCCEEDED, finished_at=10.0),
        _job("life", JobState.FAILED, finished_at=20.0),
        _job("encrypt", JobState.QUEUED),
    ]
    for job in jobs:
        await store.add(job)
    newest_first = [job.id for job in reversed(jobs)]
    everything = await store.list(status=None, kind=None, limit=10, after=None)
    assert [job.id for job in everything] == newest_first
    after = await store.list(status=None, kind=None, limit=2, after=jobs[3].id)
    assert [job.id for job in after] == [jobs[2].id, jobs[1].id]
    life = await store.list(status=None, kind="life", limit=10, after=None)
    assert [job.id for job in life] == [jobs[3].id, jobs[2].id, jobs[0].id]
    queued = await store.list(status=JobState.QUEUED, kind="encrypt", limit=10, after=None)
    assert [job.id for job in queued] == [jobs[4].id]
    live = await store.with_status(JobState.QUEUED, JobState.RUNNING)
    assert [job.id for job in live] == [jobs[0].id, jobs[1].id, jobs[4].id]
    assert [job.id for job in await store.finished_before(15.0)] == [jobs[2].id]
    assert [job.id for job in await store.finished_before(25.0, limit=1)] == [jobs[2].id]


async def test_concurrent_writers_share_one_connection_safely(store: SqliteJobStore) -> None:
    jobs = [_job() for _ in range(50)]
    async with anyio.create_task_group() as group:
        for job in jobs:
            group.start_soon(store.add, job)
    assert len(await store.list(status=None, kind=None, limit=100, after=None)) == 50
    assert await store.check() == "ok"


async def test_concurrent_writers_read_their_own_writes(store: SqliteJobStore) -> None:
    async def life(job: Job) -> None:
        await store.add(job)
        assert await store.get(job.id) == job
        ended = msgspec.structs.replace(job, status=JobState.SUCCEEDED, finished_at=2.0)
        await store.put(ended)
        assert await store.get(job.id) == ended
        if job.kind == "gone":
            await store.delete(job.id)
            assert await store.get(job.id) is None

    jobs = [_job("gone" if index % 3 == 0 else "life") for index in range(300)]
    async with anyio.create_task_group() as group:
        for job in jobs:
            group.start_soon(life, job)
    kept = await store.list(status=JobState.SUCCEEDED, kind=None, limit=500, after=None)
    assert sorted(job.id for job in kept) == sorted(job.id for job in jobs if job.kind == "life")
    assert await store.check() == "ok"


async def test_a_write_at_fault_is_refused_alone_and_its_batch_is_kept(
    store: SqliteJobStore,
) -> None:
    taken = _job()
    await store.add(taken)
    jobs = [_job() for _ in range(20)]
    refused: list[str] = []

    async def add(job: Job) -> None:
        try:
            await store.add(job)
        except FanoutError as exc:
            refused.append(f"{job.id}: {exc}")

    async with anyio.create_task_group() as group:
        for job in [*jobs[:10], taken, *jobs[10:]]:  # the twin lands in the middle of a batch
            group.start_soon(add, job)
    assert len(refused) == 1
    assert refused[0].startswith(f"{taken.id}: the job store ")
    assert "failed: UNIQUE constraint failed: jobs.id" in refused[0]
    everything = await store.list(status=None, kind=None, limit=100, after=None)
    assert sorted(job.id for job in everything) == sorted(job.id for job in [taken, *jobs])


async def test_a_failed_commit_reaches_every_writer_of_its_batch(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite3"
    store = await SqliteJobStore.open(path, busy_timeout_s=0.05)
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        errors: list[str] = []

        async def add(job: Job) -> None:
            with pytest.raises(StoreBusy) as refused:
                await store.add(job)
            errors.append(str(refused.value))

        async with anyio.create_task_group() as group:
            for job in [_job() for _ in range(30)]:
                group.start_soon(add, job)
        locked = "database is locked by another process, still after 0.05 s; try again later"
        assert errors == [f"the job store {path} is busy: {locked}"] * 30
        holder.execute("ROLLBACK")
        assert await store.list(status=None, kind=None, limit=100, after=None) == []
        job = _job()
        await store.add(job)  # the store works again once the lock is gone
        assert await store.get(job.id) == job
    finally:
        holder.close()
        await store.aclose()


async def test_put_many_stores_all_after_the_writes_begun_before_it(
    store: SqliteJobStore,
) -> None:
    jobs = [_job() for _ in range(50)]
    for job in jobs:
        await store.add(job)
    ended = [msgspec.structs.replace(job, status=JobState.INTERRUPTED) for job in jobs]
    running = msgspec.structs.replace(jobs[0], status=JobState.RUNNING)
    async with anyio.create_task_group() as group:
        group.start_soon(store.put, running)  # its write begins before put_many
        await anyio.wait_all_tasks_blocked()
        await store.put_many(ended)
    assert await store.with_status(JobState.INTERRUPTED) == ended
    await store.put_many([])


async def test_put_many_stores_all_or_none(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite3"
    store = await SqliteJobStore.open(path, busy_timeout_s=0.05)
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        jobs = [_job() for _ in range(3)]
        holder.execute("BEGIN EXCLUSIVE")
        with pytest.raises(StoreBusy, match="busy: database is locked by another process"):
            await store.put_many(jobs)
        holder.execute("ROLLBACK")
        assert await store.list(status=None, kind=None, limit=10, after=None) == []
        await store.put_many(jobs)
        assert await store.with_status(JobState.QUEUED) == jobs
    finally:
        holder.close()
        await store.aclose()


async def test_aclose_commits_the_writes_it_finds_first(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite3"
    store = await SqliteJobStore.open(path)
    jobs = [_job() for _ in range(200)]
    calls: list[Job] = []
    all_queued = anyio.Event()

    async def add(job: Job) -> None:
        calls.append(job)
        if len(calls) == len(jobs):
            all_queued.set()
        await store.add(job)  # which queues the write before its first checkpoint

    async with anyio.create_task_group() as group:
        for job in jobs:
            group.start_soon(add, job)
        await all_queued.wait()
        await store.aclose()
        with pytest.raises(FanoutError, match="is closed"):
            await store.add(_job())
    reopened = await SqliteJobStore.open(path)
    try:
        kept = await reopened.list(status=None, kind=None, limit=500, after=None)
        assert sorted(job.id for job in kept) == sorted(job.id for job in jobs)
    finally:
        await reopened.aclose()


async def test_a_closed_store_says_so(tmp_path: Path) -> None:
    store = await SqliteJobStore.open(tmp_path / "jobs.sqlite3")
    await store.aclose()
    await store.aclose()
    with pytest.raises(FanoutError, match=r"the job store .*jobs.sqlite3 is closed"):
        await store.get(new_job_id())


async def test_a_directory_is_not_a_job_store(tmp_path: Path) -> None:
    with pytest.raises(FanoutError) as refused:
        await SqliteJobStore.open(tmp_path)
    assert str(refused.value) == (
        f"cannot open the job store {tmp_path}: it is a directory, not a database file"
    )


async def test_a_file_that_is_not_a_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite3"
    path.write_bytes(b"this is not SQLite at all, just some text " * 100)
    with pytest.raises(FanoutError, match=f"cannot open the job store {path}: file is not a"):
        await SqliteJobStore.open(path)


async def test_a_database_locked_past_the_busy_timeout_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite3"
    await (await SqliteJobStore.open(path)).aclose()
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        with pytest.raises(StoreBusy, match=r"cannot open the job store .*: database is locked by"):
            await SqliteJobStore.open(path, busy_timeout_s=0.05)
    finally:
        holder.close()


async def test_a_store_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite3"
    with sqlite3.connect(path) as newer:
        newer.execute("PRAGMA user_version = 7")
    newer.close()
    with pytest.raises(FanoutError, match="schema version is 7, written by a newer fanout"):
        await SqliteJobStore.open(path)


async def test_opening_a_store_drops_the_index_no_query_uses(tmp_path: Path) -> None:
    # Stores made before the index was dropped have it; each write kept it up to date.
    path = tmp_path / "jobs.sqlite3"
    with sqlite3.connect(path) as old:
        old.executescript(_SCHEMA)
        old.execute("CREATE INDEX jobs_created ON jobs (created_at)")
    old.close()
    store = await SqliteJobStore.open(path)
    job = _job()
    await store.add(job)
    assert await store.get(job.id) == job
    await store.aclose()
    with sqlite3.connect(path) as reopened:
        rows = reopened.execute("SELECT name FROM sqlite_master WHERE type = 'index'").fetchall()
    reopened.close()
    assert sorted(name for (name,) in rows if not name.startswith("sqlite_")) == [
        "jobs_finished",
        "jobs_status_id",
    ]


@pytest.mark.parametrize("after", [False, True])
def test_a_page_of_one_status_is_read_from_the_index_without_a_sort(after: bool) -> None:
    # A status filter must not read every job of that status and sort them: the list of
    # succeeded jobs grows with the store, and the store's one thread also does job writes.
    connection = sqlite3.connect(":memory:")
    connection.executescript(_SCHEMA)
    where = "status = ? AND id < ?" if after else "status = ?"
    query = f"EXPLAIN QUERY PLAN SELECT body FROM jobs WHERE {where} ORDER BY id DESC LIMIT ?"
    plan = " ".join(row[3] for row in connection.execute(query, ("x",) * (3 if after else 2)))
    connection.close()
    assert "USING INDEX jobs_status_id" in plan
    assert "TEMP B-TREE" not in plan
