"""A second daemon on the first one's store: queued jobs run, running ones were interrupted,
finished ones keep their results."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from service.client import Client
from service.jobs.model import JobState
from service.testing import serve
from tests.api._http import LONG_LIFE
from tests.fixtures import GLIDER

pytestmark = pytest.mark.anyio


def _settings(tmp_path: Path) -> dict[str, dict[str, Any]]:
    return {
        "storage": {
            "path": str(tmp_path / "jobs.sqlite3"),
            "artifacts_dir": str(tmp_path / "artifacts"),
        },
        "jobs": {"max_running": 1, "shutdown_grace_s": 0},
    }


async def _wait_running(client: Client, job_id: str) -> None:
    async for job in client.events(job_id):
        if job.status is JobState.RUNNING:
            return


@pytest.mark.parametrize("drain", [False, True])
async def test_restart_on_the_same_store(tmp_path: Path, drain: bool) -> None:
    async with serve(_settings(tmp_path), drain=drain) as first:
        done = await first.submit("life", {"pattern": GLIDER, "generations": 3})
        await first.wait(done.id, timeout_s=60)
        result = await first.result(done.id)
        running = await first.submit("life", LONG_LIFE)
        await _wait_running(first, running.id)
        queued = await first.submit("life", {"pattern": GLIDER, "generations": 1})
        assert (await first.get(queued.id)).status is JobState.QUEUED

    async with serve(_settings(tmp_path)) as second:
        assert (await second.get(running.id)).status is JobState.INTERRUPTED
        assert await second.result(done.id) == result
        assert (await second.get(done.id)).status is JobState.SUCCEEDED
        after = await second.wait(queued.id, timeout_s=60)
        # Stopped without a drain, the queued job waits for the next daemon and runs there;
        # a drain gives it the grace period, then ends it with the rest.
        expected = JobState.INTERRUPTED if drain else JobState.SUCCEEDED
        assert after.status is expected
