"""service.jobs.scheduler: the waiting line (first come first served among the kinds that may
start) and one run's last check on its artifact, on asyncio and trio."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import anyio
import pytest

from service.jobs.model import Job, JobState, new_job_id, now
from service.jobs.scheduler import Entry, WaitingLine
from tests.jobs._harness import finished, make_settings, running
from tests.jobs._kinds import CountKind, CountParams, kinds

pytestmark = pytest.mark.anyio


def _entry(kind: str) -> Entry:
    job = Job(id=new_job_id(), kind=kind, status=JobState.QUEUED, params={}, created_at=now())
    return Entry(job, CountKind(), CountParams())


async def _wakes(line: WaitingLine, act: Callable[[], object]) -> bool:
    """True if ``act`` wakes a task waiting in ``line.changed()``."""
    woke = False

    async def waiter() -> None:
        nonlocal woke
        await line.changed()
        woke = True

    async with anyio.create_task_group() as group:
        group.start_soon(waiter)
        await anyio.wait_all_tasks_blocked()
        act()
        await anyio.wait_all_tasks_blocked()
        group.cancel_scope.cancel()
    return woke


async def test_the_line_keeps_arrival_order_across_kinds_and_passes_refused_kinds() -> None:
    line = WaitingLine()
    a1, b1, a2, c1 = _entry("a"), _entry("b"), _entry("a"), _entry("c")
    for entry in (a1, b1, a2, c1):
        line.append(entry)
    assert list(line) == [a1, b1, a2, c1]
    assert line.by_kind == {"a": 2, "b": 1, "c": 1}
    asked: list[str] = []

    def only_c(kind: str) -> bool:
        asked.append(kind)
        return kind == "c"

    assert line.pop(only_c) is c1
    assert asked == ["a", "b", "c"]  # in the order their first entries came
    assert line.pop(lambda kind: False) is None
    assert line.remove(b1)
    assert not line.remove(b1)
    assert not line.remove(c1)
    assert (len(line), list(line)) == (2, [a1, a2])
    assert [line.pop(), line.pop(), line.pop()] == [a1, a2, None]
    assert line.by_kind == {}


async def test_a_refused_kind_arriving_wakes_no_one_until_notified() -> None:
    line = WaitingLine()
    line.append(_entry("a"))
    assert line.pop(lambda kind: kind != "a") is None
    # Its kind is still at its bound: nothing could start.
    assert not await _wakes(line, lambda: line.append(_entry("a")))
    assert await _wakes(line, lambda: line.append(_entry("b")))
    assert await _wakes(line, line.notify)  # a slot of a kind was given back
    assert await _wakes(line, lambda: line.append(_entry("a")))  # no longer refused


# --- one run of one kind ---------------------------------------------------------------------


async def test_a_job_naming_an_artifact_it_never_wrote_fails(tmp_path: Path) -> None:
    async with running(make_settings(tmp_path), kinds()) as (manager, _):
        job = await manager.submit("count", {"n": 1, "phantom": True})
        done = await finished(manager, job.id)
    assert done.status is JobState.FAILED
    assert done.error is not None
    assert done.error.message == f"the job's artifact {job.id}.txt was never written"
    assert done.artifact is None
