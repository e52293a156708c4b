"""Streams inside a chain: each chunk to several consumers at once, and sources closed in time.

:class:`Fanout` hands each chunk to every consumer (the sink, enc's or dgst's stdin), each
writing in a task of its own; :func:`closing` closes an async generator stopped mid-way.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, final

import anyio
from anyio import create_task_group
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from adapters._openssl.plan import Sink

__all__ = ["Fanout", "closing"]


@asynccontextmanager
async def closing(source: AsyncIterable[bytes]) -> AsyncIterator[AsyncIterable[bytes]]:
    """The source, closed on leaving if it can be (an async generator stopped mid-way).

    A generator abandoned at a ``yield`` would otherwise be finalised by the garbage
    collector, outside any task, where its clean-up code cannot run as it should.
    """
    try:
        yield source
    finally:
        close = getattr(source, "aclose", None)
        if close is not None:
            await close()


@final
class Fanout:
    """Hands each chunk to every consumer, each writing in a task of its own.

    One chunk waits for each consumer while it writes the one before, so reading the next
    chunk, writing to the sink and writing to dgst overlap, and memory holds at most
    ``2 x consumers + 1`` chunks whatever the payload's size.
    """

    __slots__ = ("_group", "_inboxes", "_writers")

    def __init__(self, consumers: list[Sink]) -> None:
        self._writers = consumers
        self._inboxes: list[MemoryObjectSendStream[bytes]] = []
        self._group = create_task_group()

    async def __aenter__(self) -> Fanout:
        if len(self._writers) == 1:
            return self  # one consumer: written in the sender's task, nothing to overlap
        await self._group.__aenter__()
        for write in self._writers:
            inbox, outbox = anyio.create_memory_object_stream[bytes](1)
            self._inboxes.append(inbox)
            self._group.start_soon(_write_all, outbox, write)
        return self

    async def send(self, piece: bytes) -> None:
        if not self._inboxes:
            await self._writers[0](piece)
            return
        for inbox in self._inboxes:
            try:
                await inbox.send(piece)
            except anyio.BrokenResourceError:
                # A writer failed, and its own error is on its way out of the task group,
                # which cancels this wait: that error, not this one, is the news.
                await anyio.sleep_forever()

    async def __aexit__(self, *exc_info: Any) -> bool | None:
        if not self._inboxes:
            return None
        for inbox in self._inboxes:
            inbox.close()  # the writers finish what they hold, then see the end
        return await self._group.__aexit__(*exc_info)


async def _write_all(outbox: MemoryObjectReceiveStream[bytes], write: Sink) -> None:
    async with outbox:
        async for piece in outbox:
            await write(piece)
