"""A manager on a real SQLite file and artifacts directory under ``tmp_path``, and waits."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path

import anyio

from service.config import Settings, load_settings
from service.jobs.artifacts import Artifacts
from service.jobs.kind import Kind
from service.jobs.manager import JobManager
from service.jobs.model import Job
from service.jobs.store.sqlite import SqliteJobStore

__all__ = ["eventually", "finished", "make_settings", "names", "running"]


def make_settings(tmp_path: Path, *, max_payload_bytes: int = 1 << 20, **jobs: object) -> Settings:
    """Settings whose store and artifacts live under ``tmp_path``; ``jobs`` sets [jobs] keys."""
    storage = {
        "path": str(tmp_path / "db" / "jobs.sqlite3"),
        "artifacts_dir": str(tmp_path / "artifacts"),
    }
    crypto = {"max_payload_bytes": max_payload_bytes}
    return load_settings(environ={}, overrides={"jobs": jobs, "storage": storage, "crypto": crypto})


@asynccontextmanager
async def running(
    settings: Settings, kinds: Mapping[str, Kind]
) -> AsyncIterator[tuple[JobManager, SqliteJobStore]]:
    """A running manager over a freshly opened store, both closed on the way out."""
    store = await SqliteJobStore.open(settings.storage.path)
    try:
        artifacts = Artifacts(settings.storage.artifacts_dir)
        async with JobManager(settings, store, kinds, artifacts=artifacts) as manager:
            yield manager, store
    finally:
        await store.aclose()


async def finished(manager: JobManager, job_id: str, *, timeout_s: float = 10) -> Job:
    """The job's terminal snapshot, read from its events."""
    last: Job | None = None
    with anyio.fail_after(timeout_s):
        async for job in manager.events(job_id):
            last = job
    assert last is not None
    assert last.finished, last
    return last


async def names(directory: str | Path) -> list[str]:
    """The names in ``directory``, sorted."""
    return sorted([path.name async for path in anyio.Path(directory).iterdir()])


async def eventually(check: Callable[[], bool], *, timeout_s: float = 5) -> None:
    """Wait until ``check()`` holds (for state owned by the manager's own tasks)."""
    # Polling, as the state is the manager's own and signals no change; bounded by the timeout.
    with anyio.fail_after(timeout_s):
        while not check():  # noqa: ASYNC110  # polling: there is no event to wait on
            await anyio.sleep(0.005)
