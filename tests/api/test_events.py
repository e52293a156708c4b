"""service.api.events: the framing (read back by service.client.events, the client's parser), and
heartbeats on a real stream of a real manager's job."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from pathlib import Path

import aiohttp
import anyio
import msgspec
import pytest
from aiohttp import web

from service.api import create_app
from service.api.events import HEARTBEAT, sse_event
from service.client.events import Event, read_events
from service.config import load_settings
from service.jobs.artifacts import Artifacts
from service.jobs.kinds import KINDS
from service.jobs.manager import JobManager
from service.jobs.model import Job, JobState
from service.jobs.store.sqlite import SqliteJobStore
from service.testing import serve
from tests.api._http import LONG_LIFE

pytestmark = pytest.mark.anyio


async def _chunks(parts: Iterable[bytes]) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def _read(parts: Iterable[bytes]) -> list[Event]:
    return [event async for event in read_events(_chunks(parts))]


def test_an_event_is_a_name_and_data_lines_ending_in_a_blank_line() -> None:
    assert sse_event("job", b'{"id": "1"}') == b'event: job\ndata: {"id": "1"}\n\n'


def test_multi_line_data_becomes_one_data_line_each() -> None:
    assert sse_event("x", b"a\nb") == b"event: x\ndata: a\ndata: b\n\n"


async def test_events_read_back_whatever_the_chunking() -> None:
    stream = sse_event("job", b'{"a": 1}') + HEARTBEAT + sse_event("job", b"two\nlines")
    expected = [Event("job", b'{"a": 1}'), Event("job", b"two\nlines")]
    assert await _read([stream]) == expected
    assert await _read([stream[i : i + 1] for i in range(len(stream))]) == expected


async def test_comments_crlf_and_unnamed_events() -> None:
    stream = b": hello\r\n\r\ndata: plain\r\n\r\nevent: job\ndata:no-space\n\n"
    assert await _read([stream]) == [Event("message", b"plain"), Event("job", b"no-space")]


async def test_an_unfinished_event_at_the_end_is_dropped() -> None:
    assert await _read([b"event: job\ndata: cut"]) == []


async def test_a_long_line_is_not_refused() -> None:
    data = b"x" * 300_000
    assert await _read([sse_event("job", data)]) == [Event("job", data)]


async def test_an_idle_stream_sends_heartbeats(tmp_path: Path) -> None:
    settings = load_settings(environ={})
    store = await SqliteJobStore.open(tmp_path / "jobs.sqlite3")
    try:
        artifacts = Artifacts(tmp_path / "artifacts")
        async with JobManager(settings, store, KINDS, artifacts=artifacts) as manager:
            app = create_app(manager, settings, token=None, heartbeat_s=0.01)
            runner = web.AppRunner(app, shutdown_timeout=0.1)
            await runner.setup()
            try:
                site = web.TCPSite(runner, "127.0.0.1", 0)
                await site.start()
                port = runner.addresses[0][1]
                job = await manager.submit("life", LONG_LIFE)
                await _expect_heartbeat(f"http://127.0.0.1:{port}/v1/jobs/{job.id}/events")
                await manager.cancel(job.id)
            finally:
                await runner.cleanup()
    finally:
        await store.aclose()


async def _expect_heartbeat(url: str) -> None:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "text/event-stream"
        assert response.headers["Cache-Control"] == "no-cache"
        seen = b""
        with anyio.fail_after(30):
            while HEARTBEAT not in seen:
                seen += await response.content.readany()
        first = seen.split(b"\n\n")[0]
        assert first.startswith(b"event: job\ndata: {")
        snapshot = msgspec.json.decode(first.partition(b"data: ")[2], type=Job)
        assert snapshot.status in (JobState.QUEUED, JobState.RUNNING)


async def test_a_finished_job_streams_once_and_ends() -> None:
    async with serve() as client:
        job = await client.submit("life", {"pattern": "x = 1, y = 1\no!", "generations": 1})
        await client.wait(job.id, timeout_s=60)
        snapshots = [snapshot async for snapshot in client.events(job.id)]
    assert [snapshot.status for snapshot in snapshots] == [JobState.SUCCEEDED]
