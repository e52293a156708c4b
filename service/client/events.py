"""A reader of server-sent events (``text/event-stream``), for the client's ``wait``.

It splits the byte stream itself instead of reading lines through aiohttp, whose line reader
refuses lines past 128 KiB: a job's JSON may be longer. Comments (``: heartbeat``) are skipped.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from typing import final

__all__ = ["Event", "read_events"]


@final
@dataclass(frozen=True, slots=True)
class Event:
    """One event: its name (``message`` when unnamed) and its data lines joined by newlines."""

    name: str
    data: bytes


async def read_events(chunks: AsyncIterable[bytes]) -> AsyncIterator[Event]:
    """The events in ``chunks``, as each one completes (at its blank line)."""
    pending = b""
    name, data = "message", list[bytes]()
    async for chunk in chunks:
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for raw in lines:
            text = raw.rstrip(b"\r")
            if not text:
                if data:
                    yield Event(name, b"\n".join(data))
                name, data = "message", []
            elif not text.startswith(b":"):
                key, _, value = text.partition(b":")
                value = value.removeprefix(b" ")
                if key == b"event":
                    name = value.decode("utf-8", "replace")
                elif key == b"data":
                    data.append(value)
