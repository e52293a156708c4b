"""Group commit: writes from many tasks committed together, one batch (one transaction) at a time.

A writer joins the open batch and waits until that batch is committed. The first writer of a
batch leads it: it waits for the batch before it to end, seals its own (later writers open the
next one) and commits every write that joined meanwhile in one call, then wakes them all. So
while one batch is being committed the next one fills, and a store that takes a write in 50 µs
but a hand-over between its thread and a busy event loop in a millisecond pays that hand-over
once per batch, not once per write.

Why a leader rather than a writer task of its own: the store has no task group to run one in
(it is opened by a plain call and closed by ``aclose``), and a leader needs none. Each batch
has one leader, who commits it and nothing else, so no caller works for longer than the batch
before it and its own.

Once a write has joined a batch it cannot be withdrawn: the batch may already be in flight.
So from then on the writer is shielded from cancellation, as a caller of
``to_thread.run_sync`` waits for its thread: a write is committed or refused, never abandoned.
Before that (while it waits for room in a full queue) it can be cancelled.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar, final

import anyio

from service.errors import FanoutError

__all__ = ["Commit", "GroupCommit"]

W = TypeVar("W")

Commit = Callable[[list[W]], Awaitable[Sequence[Exception | None]]]
"""Commits writes in one transaction; per write, the error that kept it out or None."""


@final
class _Batch(Generic[W]):
    """Writes committed together; ``done`` once ``errors`` holds their outcomes."""

    __slots__ = ("after", "done", "errors", "writes")

    def __init__(self, after: _Batch[W] | None) -> None:
        self.after = after  # the batch committed before this one, until it is done
        self.writes: list[W] = []
        self.errors: Sequence[BaseException | None] = ()
        self.done = anyio.Event()


@final
class GroupCommit(Generic[W]):
    """Writes queued for ``commit``, at most ``max_pending`` at once (the rest wait for room)."""

    __slots__ = ("_commit", "_last", "_max_pending", "_open", "_room")

    def __init__(self, commit: Commit[W], *, max_pending: int) -> None:
        if max_pending < 1:
            raise ValueError(f"max_pending {max_pending}: must be 1 or more")
        self._commit = commit
        self._max_pending = max_pending
        self._room = anyio.Semaphore(max_pending)
        self._open: _Batch[W] | None = None  # the batch writes join now
        self._last: _Batch[W] | None = None  # the newest batch not yet done

    def __repr__(self) -> str:
        return f"<GroupCommit {self._max_pending - self._room.value}/{self._max_pending} pending>"

    async def write(self, write: W) -> None:
        """Return once ``write`` is committed; raise the error that kept it out."""
        try:
            self._room.acquire_nowait()  # no checkpoint, no extra trip through the event loop
        except anyio.WouldBlock:
            await self._room.acquire()
        try:
            batch, index = self._join(write)
            if index == 0:
                with anyio.CancelScope(shield=True):
                    await self._lead(batch)
            else:
                await _outlast(batch.done)
        finally:
            self._room.release()
        error = batch.errors[index]
        if error is not None:
            raise error

    async def flush(self) -> None:
        """Return once every write queued so far has been committed (or refused)."""
        while self._last is not None:
            await self._last.done.wait()

    def _join(self, write: W) -> tuple[_Batch[W], int]:
        batch = self._open
        if batch is None:
            batch = self._open = self._last = _Batch(self._last)
        batch.writes.append(write)
        return batch, len(batch.writes) - 1

    async def _lead(self, batch: _Batch[W]) -> None:
        try:
            if batch.after is not None:
                await batch.after.done.wait()
                batch.after = None  # a chain of done batches would never be freed
            batch.errors = await self._commit(self._seal(batch))
            if len(batch.errors) != len(batch.writes):
                raise RuntimeError(f"{len(batch.errors)} outcomes for {len(batch.writes)} writes")
        except BaseException as exc:
            self._seal(batch)
            batch.errors = [_failure(exc)] * len(batch.writes)
            raise
        finally:
            if self._last is batch:
                self._last = batch.after  # None, unless the leader was gone before its turn
            batch.after = None
            batch.done.set()

    def _seal(self, batch: _Batch[W]) -> list[W]:
        """The batch's writes, closed to new ones: writers from now on open the next batch."""
        if self._open is batch:
            self._open = None
        return batch.writes


def _failure(exc: BaseException) -> BaseException:
    """What the other writers of a batch raise when its leader raised ``exc``.

    A commit that raises is a bug of its own: they raise it too, rather than hang. The leader's
    shield holds off anyio's cancellation but not asyncio's own ``Task.cancel()`` (aiohttp
    cancels the handlers still running when it shuts down); then the batch's fate is unknown,
    and the others must not raise a cancellation that is not theirs.
    """
    if isinstance(exc, anyio.get_cancelled_exc_class()):
        return FanoutError("the write was abandoned with its batch: it may or may not be stored")
    return exc


async def _outlast(done: anyio.Event) -> None:
    """Wait for ``done``, even past a cancellation (raised once ``done`` is set).

    The same as waiting in a shielded cancel scope, without entering one on every write
    (a few microseconds each), since writers are seldom cancelled.
    """
    try:
        await done.wait()
    except anyio.get_cancelled_exc_class():
        with anyio.CancelScope(shield=True):
            await done.wait()
        raise
