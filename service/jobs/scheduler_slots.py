"""The ``[jobs] max_running`` running slots, shared by queued jobs and uploads, and each kind's
own bound (``[jobs] max_running_<kind>``) within them.

Queued jobs get theirs from the dispatcher, which takes a slot once one is free and starts the
first job in line whose kind is below its bound, in the manager's task group. An upload cannot
wait in the line (its payload is the caller's request body), so its caller waits for a slot
itself: its kind's first, then one of the total, so that while it waits it holds none that a
job of another kind could use. The dispatcher never waits while it holds a slot. Each bound is
a ``CapacityLimiter``, first come first served; a slot is held on behalf of a token rather than
a task, because the dispatcher takes it and the job's task gives it back.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from functools import partial
from typing import final

import anyio
from anyio.abc import TaskGroup

from service.errors import Draining
from service.jobs.scheduler_entry import Entry
from service.jobs.scheduler_queue import WaitingLine

__all__ = ["Slots"]


@final
class Slots:
    """Running slots in total and per kind, the dispatcher that fills them, and uploads
    waiting for one."""

    __slots__ = ("_dispatching", "_kinds", "_limiter", "_line", "_stopped", "_uploads")

    def __init__(self, line: WaitingLine, count: int, per_kind: Mapping[str, int | None]) -> None:
        self._line = line
        self._limiter = anyio.CapacityLimiter(count)
        # A kind's bound at or past the total bounds nothing: such a kind gets no limiter.
        self._kinds = {
            kind: anyio.CapacityLimiter(limit)
            for kind, limit in per_kind.items()
            if limit is not None and limit < count
        }
        self._dispatching: anyio.CancelScope | None = None
        self._uploads: set[anyio.CancelScope] = set()
        self._stopped = False

    def __repr__(self) -> str:
        return f"<Slots {self._limiter.borrowed_tokens}/{self._limiter.total_tokens} taken>"

    def free(self, kind: str) -> float:
        """Slots a job of ``kind`` could take now."""
        free = self._limiter.available_tokens
        own = self._kinds.get(kind)
        return free if own is None else min(free, own.available_tokens)

    async def dispatch(self, group: TaskGroup, run: Callable[[Entry], Awaitable[None]]) -> None:
        """Start the first queued job whose kind may start one in ``group`` whenever a slot
        is free, until stopped."""
        if self._stopped:
            return
        line = self._line
        self._dispatching = anyio.CancelScope()
        with self._dispatching:
            while True:
                await line.wait()
                token = object()
                await self._limiter.acquire_on_behalf_of(token)
                entry = line.pop(partial(self._claim, token=token))
                if entry is None:
                    # Every kind in line is at its own bound (or a cancel emptied the line):
                    # give the slot back, and look again once one of them ends or a job comes.
                    self._limiter.release_on_behalf_of(token)
                    await line.changed()
                    continue
                entry.dispatched = True
                group.start_soon(self._hold, token, run, entry)

    @asynccontextmanager
    async def held(self, kind: str) -> AsyncIterator[None]:
        """Hold a slot for an upload of ``kind``; Draining if a stop cuts the wait short."""
        token = object()
        own = self._kinds.get(kind)
        needed = [self._limiter] if own is None else [own, self._limiter]
        taken: list[anyio.CapacityLimiter] = []
        try:
            with anyio.CancelScope() as waiting:
                self._uploads.add(waiting)
                try:
                    for limiter in needed:
                        await limiter.acquire_on_behalf_of(token)
                        taken.append(limiter)
                finally:
                    self._uploads.discard(waiting)
            if waiting.cancelled_caught:
                raise Draining("the daemon began to stop before the upload could start: try again")
            yield
        finally:
            self._release(token, own if own in taken else None, total=self._limiter in taken)

    def refuse_uploads(self) -> None:
        """End the waits of uploads that have no slot yet (with Draining)."""
        for waiting in list(self._uploads):
            waiting.cancel()

    def stop(self) -> None:
        """Start no more jobs, and refuse waiting uploads."""
        self._stopped = True
        if self._dispatching is not None:
            self._dispatching.cancel()
        self.refuse_uploads()

    def _claim(self, kind: str, token: object) -> bool:
        """Take a slot of ``kind``'s own for ``token`` if one is free now; True if taken (or
        the kind has no bound of its own)."""
        own = self._kinds.get(kind)
        if own is None:
            return True
        try:
            own.acquire_on_behalf_of_nowait(token)
        except anyio.WouldBlock:
            return False
        return True

    def _release(self, token: object, own: anyio.CapacityLimiter | None, *, total: bool) -> None:
        if own is not None:
            own.release_on_behalf_of(token)
            self._line.notify()  # a job of this kind waiting in line may start now
        if total:
            self._limiter.release_on_behalf_of(token)

    async def _hold(
        self, token: object, run: Callable[[Entry], Awaitable[None]], entry: Entry
    ) -> None:
        try:
            await run(entry)
        finally:
            self._release(token, self._kinds.get(entry.job.kind), total=True)
