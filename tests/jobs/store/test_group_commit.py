"""service.jobs.store.group_commit: writes batched, each outcome to its writer, room bounded."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

import anyio
import pytest

from service.errors import FanoutError
from service.jobs.store.group_commit import GroupCommit

pytestmark = pytest.mark.anyio


class _Log:
    """A commit that records its batches; ``gate``, while closed, holds every commit."""

    def __init__(self, *, failing: frozenset[int] = frozenset()) -> None:
        self.batches: list[list[int]] = []
        self.committed: set[int] = set()
        self.failing = failing
        self.gate = anyio.Event()
        self.gate.set()

    async def commit(self, writes: list[int]) -> Sequence[Exception | None]:
        self.batches.append(list(writes))
        with anyio.fail_after(5):  # a test that fails while the gate is shut must not hang
            await self.gate.wait()
        await anyio.sleep(0.001)  # the store's thread, working
        self.committed.update(write for write in writes if write not in self.failing)
        return [ValueError(f"write {write}") if write in self.failing else None for write in writes]

    def hold(self) -> None:
        self.gate = anyio.Event()


async def _until(check: Callable[[], bool]) -> None:
    # Polling: the state watched is the commit's own and signals no change.
    with anyio.fail_after(5):
        while not check():  # noqa: ASYNC110  # polling: there is no event to wait on
            await anyio.sleep(0.001)


async def test_writes_that_arrive_together_are_committed_together() -> None:
    log = _Log()
    writes = GroupCommit(log.commit, max_pending=1000)
    returned: list[int] = []

    async def write(value: int) -> None:
        await writes.write(value)
        assert value in log.committed  # not before its batch is committed
        returned.append(value)

    async with anyio.create_task_group() as group:
        for value in range(200):
            group.start_soon(write, value)
    assert sorted(returned) == list(range(200))
    assert sorted(value for batch in log.batches for value in batch) == list(range(200))
    assert len(log.batches) <= 3  # the first writer's own batch, then everyone else's


async def test_each_writer_gets_the_outcome_of_its_own_write() -> None:
    log = _Log(failing=frozenset({3, 7}))
    writes = GroupCommit(log.commit, max_pending=100)
    outcomes: dict[int, str] = {}

    async def write(value: int) -> None:
        try:
            await writes.write(value)
        except ValueError as exc:
            outcomes[value] = str(exc)
        else:
            outcomes[value] = "ok"

    async with anyio.create_task_group() as group:
        for value in range(10):
            group.start_soon(write, value)
    assert outcomes == dict.fromkeys(range(10), "ok") | {3: "write 3", 7: "write 7"}


async def test_a_commit_that_raises_fails_every_write_of_its_batch() -> None:
    batches: list[list[int]] = []

    async def broken(batch: list[int]) -> Sequence[Exception | None]:
        batches.append(batch)
        await anyio.sleep(0.001)
        raise OSError("disk on fire")

    writes = GroupCommit(broken, max_pending=100)
    failures: list[int] = []

    async def write(value: int) -> None:
        with pytest.raises(OSError, match="disk on fire"):
            await writes.write(value)
        failures.append(value)

    async with anyio.create_task_group() as group:
        for value in range(20):
            group.start_soon(write, value)
    assert sorted(failures) == list(range(20))
    assert len(batches) < 20


async def test_past_max_pending_writers_wait_for_room() -> None:
    log = _Log()
    log.hold()
    writes = GroupCommit(log.commit, max_pending=3)
    async with anyio.create_task_group() as group:
        for value in range(10):
            group.start_soon(writes.write, value)
        await _until(lambda: len(log.batches) == 1)
        await anyio.sleep(0.01)
        log.gate.set()
    assert sorted(value for batch in log.batches for value in batch) == list(range(10))
    # Without the bound, the second batch would hold the nine writes that came meanwhile.
    assert max(len(batch) for batch in log.batches) <= 3


async def test_flush_waits_for_every_queued_write() -> None:
    log = _Log()
    log.hold()
    writes = GroupCommit(log.commit, max_pending=100)
    async with anyio.create_task_group() as group:
        for value in range(10):
            group.start_soon(writes.write, value)
        await _until(lambda: len(log.batches) == 1)
        with anyio.move_on_after(0.05) as waiting:
            await writes.flush()
        assert waiting.cancelled_caught
        log.gate.set()
        await writes.flush()
        assert log.committed == set(range(10))
    await writes.flush()  # nothing queued: at once


async def test_cancelled_writers_still_wait_for_their_writes() -> None:
    log = _Log()
    log.hold()
    writes = GroupCommit(log.commit, max_pending=100)
    ended: list[int] = []

    async def write(value: int, scope: anyio.CancelScope) -> None:
        with scope:
            await writes.write(value)
        # Cancelled or not (the batch's leader may return before it meets a checkpoint), the
        # writer ends only once its write is committed.
        assert value in log.committed
        ended.append(value)

    async with anyio.create_task_group() as group:
        group.start_soon(writes.write, 0)  # leads the first batch, held at the gate
        await _until(lambda: len(log.batches) == 1)
        scopes = [anyio.CancelScope() for _ in range(3)]
        for value, scope in enumerate(scopes, start=1):  # 1 leads the next batch, 2 and 3 join
            group.start_soon(write, value, scope)
            await anyio.sleep(0.001)
        for scope in scopes:
            scope.cancel()
        await anyio.sleep(0.01)
        assert ended == []
        log.gate.set()
    assert sorted(ended) == [1, 2, 3]
    assert log.batches == [[0], [1, 2, 3]]


async def test_a_writer_waiting_for_room_can_be_cancelled() -> None:
    log = _Log()
    log.hold()
    writes = GroupCommit(log.commit, max_pending=1)
    async with anyio.create_task_group() as group:
        group.start_soon(writes.write, 0)
        await _until(lambda: len(log.batches) == 1)
        with anyio.move_on_after(0.05) as waiting:
            await writes.write(1)
        assert waiting.cancelled_caught
        log.gate.set()
    assert log.batches == [[0]]


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_a_leader_cancelled_by_asyncio_itself_leaves_no_writer_hanging() -> None:
    # aiohttp cancels the handlers still running when it shuts down with Task.cancel(),
    # which no anyio shield holds off.
    log = _Log()
    log.hold()
    writes = GroupCommit(log.commit, max_pending=100)
    outcomes: dict[int, str] = {}

    async def write(value: int) -> None:
        try:
            await writes.write(value)
        except FanoutError as exc:
            outcomes[value] = str(exc)
        else:
            outcomes[value] = "ok"

    async with anyio.create_task_group() as group:
        group.start_soon(write, 0)  # leads the first batch, held at the gate
        await _until(lambda: len(log.batches) == 1)
        leader = asyncio.get_running_loop().create_task(writes.write(1))  # leads the next one
        await anyio.sleep(0.001)
        group.start_soon(write, 2)  # and joins it
        await anyio.sleep(0.001)
        leader.cancel()
        await asyncio.wait([leader])
        assert leader.cancelled()
        group.start_soon(write, 3)  # a batch of its own, after the first one still
        await anyio.sleep(0.01)
        assert log.batches == [[0]]
        log.gate.set()
        await writes.flush()
    abandoned = "the write was abandoned with its batch: it may or may not be stored"
    assert outcomes == {0: "ok", 2: abandoned, 3: "ok"}
    assert log.batches == [[0], [3]]


async def test_max_pending_must_allow_a_write() -> None:
    async def commit(batch: list[int]) -> Sequence[Exception | None]:
        return [None] * len(batch)

    with pytest.raises(ValueError, match="max_pending 0: must be 1 or more"):
        GroupCommit(commit, max_pending=0)
