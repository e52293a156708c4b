"""``GET /v1/jobs/{id}/events``: a job's snapshots as server-sent events, until it ends.

Each snapshot is one ``event: job`` with the job's JSON as its ``data``; the stream closes after
the terminal one (succeeded, failed, cancelled, interrupted). While nothing happens a comment
line goes out every ``heartbeat_s`` seconds, so proxies keep the connection and a client
notices a dead one.

The manager's snapshots are pumped into a one-slot memory stream by a child task and written
by the handler alone: waiting for the next one can then time out for a heartbeat without
cancelling the manager's iterator halfway through a step, and no two writes ever interleave.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Final

import anyio
import msgspec
from aiohttp import web
from anyio.abc import ObjectReceiveStream, ObjectSendStream

from service.api.logs import API_LOG, line
from service.api.state import HEARTBEAT_S, MANAGER
from service.api.tracing import request_id
from service.errors import FanoutError
from service.jobs.model import Job

__all__ = ["EVENT_STREAM", "HEARTBEAT", "HEARTBEAT_EVERY_S", "JOB_EVENT", "job_events", "sse_event"]

EVENT_STREAM: Final = "text/event-stream"
JOB_EVENT: Final = "job"
"""The name of every event on the stream; its ``data`` is the job's JSON."""
HEARTBEAT: Final = b": heartbeat\n\n"
HEARTBEAT_EVERY_S: Final = 15.0
_ENCODER: Final = msgspec.json.Encoder()


def sse_event(event: str, data: bytes) -> bytes:
    """One server-sent event; each line of ``data`` becomes a ``data:`` line."""
    lines = b"".join(b"data: " + part + b"\n" for part in data.split(b"\n"))
    return b"event: " + event.encode() + b"\n" + lines + b"\n"


async def job_events(request: web.Request) -> web.StreamResponse:
    """The handler: 404 before streaming if there is no such job, then the events."""
    manager = request.app[MANAGER]
    job_id = request.match_info["id"]
    await manager.get(job_id)
    response = web.StreamResponse(
        headers={
            "Content-Type": EVENT_STREAM,
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",  # nginx would otherwise hold the events back
        }
    )
    await response.prepare(request)
    try:
        await _stream(response, manager.events(job_id), request.app[HEARTBEAT_S])
        await response.write_eof()
    except Exception as exc:
        # The status line is sent: a JSON error can no longer replace it. A client that left
        # is no news (aiohttp says so with a ConnectionResetError on the next write); anything
        # else is a bug, logged, and the stream just ends.
        if not _client_left(exc):
            API_LOG.error(
                line("bug", request_id=request_id(request), error=repr(exc)), exc_info=exc
            )
    return response


def _client_left(exc: BaseException) -> bool:
    if isinstance(exc, BaseExceptionGroup):
        return all(_client_left(inner) for inner in exc.exceptions)
    return isinstance(exc, ConnectionError)


async def _stream(response: web.StreamResponse, events: AsyncIterator[Job], every: float) -> None:
    sender, receiver = anyio.create_memory_object_stream[Job](1)
    async with anyio.create_task_group() as group:
        group.start_soon(_pump, events, sender)
        try:
            await _forward(response, receiver, every)
        finally:
            group.cancel_scope.cancel()


async def _pump(events: AsyncIterator[Job], sender: ObjectSendStream[Job]) -> None:
    async with sender:
        try:
            async for job in events:
                await sender.send(job)
        except FanoutError:
            pass  # the job went away meanwhile (retention): end the stream
        finally:
            aclose = getattr(events, "aclose", None)
            if aclose is not None:
                await aclose()


async def _forward(
    response: web.StreamResponse, receiver: ObjectReceiveStream[Job], every: float
) -> None:
    async with receiver:
        while True:
            job: Job | None = None
            with anyio.move_on_after(every):
                try:
                    job = await receiver.receive()
                except anyio.EndOfStream:
                    return
            chunk = HEARTBEAT if job is None else sse_event(JOB_EVENT, _ENCODER.encode(job))
            await response.write(chunk)
