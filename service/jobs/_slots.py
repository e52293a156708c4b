"""The ``[jobs] max_running`` running slots, shared by queued jobs and uploads.

Queued jobs get theirs from the dispatcher, which takes the first job in line once a slot is
free and runs it in the manager's task group. An upload cannot wait in the line (its payload
is the caller's request body), so its caller waits for a slot itself. Both wait in the one
``CapacityLimiter``, first come first served. A slot is held on behalf of a token rather than
a task, because the dispatcher takes it and the job's task gives it back.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import final

import anyio
from anyio.abc import TaskGroup

from service.errors import Draining
from service.jobs._entry import Entry
from service.jobs._queue import WaitingLine

__all__ = ["Slots"]


@final
class Slots:
    """Running slots, the dispatcher that fills them, and uploads waiting for one."""

    __slots__ = ("_dispatching", "_limiter", "_stopped", "_uploads")

    def __init__(self, count: int) -> None:
        self._limiter = anyio.CapacityLimiter(count)
        self._dispatching: anyio.CancelScope | None = None
        self._uploads: set[anyio.CancelScope] = set()
        self._stopped = False

    def __repr__(self) -> str:
        return f"<Slots {self._limiter.borrowed_tokens}/{self._limiter.total_tokens} taken>"

    @property
    def free(self) -> float:
        return self._limiter.available_tokens

    async def dispatch(
        self, line: WaitingLine, group: TaskGroup, run: Callable[[Entry], Awaitable[None]]
    ) -> None:
        """Start the first queued job in ``group`` whenever a slot is free, until stopped."""
        if self._stopped:
            return
        self._dispatching = anyio.CancelScope()
        with self._dispatching:
            while True:
                await line.wait()
                token = object()
                await self._limiter.acquire_on_behalf_of(token)
                entry = line.pop()
                if entry is None:  # the line emptied (a cancel) while we waited for the slot
                    self._limiter.release_on_behalf_of(token)
                    continue
                entry.dispatched = True
                group.start_soon(self._hold, token, run, entry)

    @asynccontextmanager
    async def held(self) -> AsyncIterator[None]:
        """Hold a slot for an upload; Draining if a stop cuts the wait short."""
        token = object()
        with anyio.CancelScope() as waiting:
            self._uploads.add(waiting)
            try:
                await self._limiter.acquire_on_behalf_of(token)
            finally:
                self._uploads.discard(waiting)
        if waiting.cancelled_caught:
            raise Draining("the daemon began to stop before the upload could start: try again")
        try:
            yield
        finally:
            self._limiter.release_on_behalf_of(token)

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

    async def _hold(
        self, token: object, run: Callable[[Entry], Awaitable[None]], entry: Entry
    ) -> None:
        try:
            await run(entry)
        finally:
            self._limiter.release_on_behalf_of(token)
