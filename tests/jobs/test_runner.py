"""The runner's last check on an artifact: a kind cannot succeed with one it never wrote."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.jobs.model import JobState
from tests.jobs._harness import finished, make_settings, running
from tests.jobs._kinds import kinds

pytestmark = pytest.mark.anyio


async def test_a_job_naming_an_artifact_it_never_wrote_fails(tmp_path: Path) -> None:
    async with running(make_settings(tmp_path), kinds()) as (manager, _):
        job = await manager.submit("count", {"n": 1, "phantom": True})
        done = await finished(manager, job.id)
    assert done.status is JobState.FAILED
    assert done.error is not None
    assert done.error.message == f"the job's artifact {job.id}.txt was never written"
    assert done.artifact is None
