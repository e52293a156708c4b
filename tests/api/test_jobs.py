"""Each kind end to end through the HTTP API, and the job states' refusals: 409, 429, 503."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Final

import anyio
import pytest

from service.client import Client
from service.errors import Busy, Draining
from service.jobs.model import Job, JobState
from service.life.formats import read_pattern
from service.testing import serve
from tests.api._http import LONG_LIFE, Stalled, eventually, request
from tests.fixtures import GLIDER_NAMED as GLIDER
from tests.pipeline._server import serve as image_server

pytestmark = pytest.mark.anyio

FAST: Final = {"crypto": {"pbkdf2_iterations": 1_000}}


async def _running(client: Client, job_id: str) -> Job:
    async for job in client.events(job_id):
        if job.status is not JobState.QUEUED:
            return job
    return await client.get(job_id)


async def test_life_ends_with_an_rle_result() -> None:
    async with serve() as client:
        job = await client.submit("life", {"pattern": GLIDER, "generations": 4})
        done = await client.wait(job.id, timeout_s=60)
        assert done.status is JobState.SUCCEEDED
        assert done.progress.done == done.progress.total == 4
        assert done.result is not None
        assert done.result["population"] == 5
        reply = await request(client, "GET", f"/v1/jobs/{job.id}/result")
        assert reply.status == 200
        assert reply.headers["Content-Type"].startswith("text/plain")
        moved = read_pattern(reply.body)
        assert moved.population == 5


async def test_encrypt_and_decrypt_with_base64_json() -> None:
    plain = b"the quick brown fox\n" * 50
    async with serve(FAST) as client:
        params = {"data": base64.b64encode(plain).decode(), "password": "pw"}
        sealed = await client.wait((await client.submit("encrypt", params)).id, timeout_s=60)
        assert sealed.status is JobState.SUCCEEDED, sealed.error
        assert "password" not in sealed.params
        assert "data" not in sealed.params  # the plaintext: never kept with the job
        ciphertext = await client.result(sealed.id)
        back = {"data": base64.b64encode(ciphertext).decode(), "password": "pw"}
        opened = await client.wait((await client.submit("decrypt", back)).id, timeout_s=60)
        assert opened.status is JobState.SUCCEEDED, opened.error
        assert opened.result is not None
        assert sealed.result is not None
        assert opened.result["digest"] == sealed.result["digest"]
        assert await client.result(opened.id) == plain


async def test_without_openssl_the_daemon_serves_and_crypto_jobs_say_why(tmp_path: Path) -> None:
    missing = str(tmp_path / "no-openssl")
    async with serve({"crypto": {"openssl": missing}}) as client:
        glider = {"pattern": GLIDER, "generations": 4}
        life = await client.wait((await client.submit("life", glider)).id, timeout_s=60)
        assert life.status is JobState.SUCCEEDED, life.error
        params = {"data": "aGk=", "password": "pw", "cipher": "not-checked-without-openssl"}
        sealed = await client.wait((await client.submit("encrypt", params)).id, timeout_s=60)
    assert sealed.status is JobState.FAILED
    assert sealed.error is not None
    assert sealed.error.type == "ConfigError"
    assert missing in sealed.error.message


async def test_pipeline_from_an_allowed_source_to_a_named_destination(tmp_path: Path) -> None:
    async with image_server() as images:
        settings = {
            "pipeline": {
                "allowed_sources": images.base + "/img/",
                "allow_private": True,  # the image server is on loopback
                "destinations": {"thumbs": str(tmp_path)},
                "size": "64x64",
                "format": "png",
            }
        }
        async with serve(settings) as client:
            sources = [images.url(f"/img/photo-{n}.jpg") for n in range(3)]
            job = await client.submit("pipeline", {"sources": sources, "destination": "thumbs"})
            done = await client.wait(job.id, timeout_s=60)
            assert done.status is JobState.SUCCEEDED, done.error
            assert done.result is not None
            assert done.result["succeeded"] == 3
            manifest = json.loads(await client.result(job.id))
            assert len(manifest["items"]) == 3
    assert len([path async for path in anyio.Path(tmp_path).glob("*.png")]) == 3


async def test_pipeline_refuses_a_source_outside_the_allowed_prefixes(tmp_path: Path) -> None:
    settings = {
        "pipeline": {
            "allowed_sources": "https://images.example.com/",
            "destinations": {"thumbs": str(tmp_path)},
        }
    }
    async with serve(settings) as client:
        params = {"sources": ["http://127.0.0.1/x.jpg"], "destination": "thumbs"}
        body = {"kind": "pipeline", "params": params}
        reply = await request(client, "POST", "/v1/jobs", json=body)
        assert reply.status == 400
        assert reply.error()["field"].startswith("params.sources")


@pytest.mark.parametrize("strategy", ["auto", "serial"])
async def test_cancel_a_running_life_job_and_then_conflicts(strategy: str) -> None:
    # auto fans this much work out from the event loop; serial makes it in one worker thread,
    # which sees the cancellation at the end of a round.
    async with serve() as client:
        job = await client.submit("life", {**LONG_LIFE, "strategy": strategy})
        assert (await _running(client, job.id)).status is JobState.RUNNING
        early = await request(client, "GET", f"/v1/jobs/{job.id}/result")
        assert early.status == 409
        assert early.error()["type"] == "Conflict"
        reply = await request(client, "POST", f"/v1/jobs/{job.id}/cancel")
        assert reply.status == 200
        assert reply.job().status is JobState.CANCELLED
        again = await request(client, "POST", f"/v1/jobs/{job.id}/cancel")
        assert again.status == 409
        assert "cancelled" in again.error()["message"]
        none = await request(client, "GET", f"/v1/jobs/{job.id}/result")
        assert none.status == 409


async def test_cancel_a_queued_job() -> None:
    async with serve({"jobs": {"max_running": 1}}) as client:
        long = await client.submit("life", LONG_LIFE)
        await _running(client, long.id)
        queued = await client.submit("life", {"pattern": GLIDER, "generations": 1})
        assert (await client.get(queued.id)).status is JobState.QUEUED
        assert (await request(client, "GET", f"/v1/jobs/{queued.id}/result")).status == 409
        assert (await client.cancel(queued.id)).status is JobState.CANCELLED
        await client.cancel(long.id)


async def test_a_full_queue_is_429_with_retry_after() -> None:
    async with serve({"jobs": {"max_running": 1, "max_queued": 0}}) as client:
        long = await client.submit("life", LONG_LIFE)
        await _running(client, long.id)
        body = {"kind": "life", "params": {"pattern": GLIDER}}
        reply = await request(client, "POST", "/v1/jobs", json=body)
        assert reply.status == 429
        assert reply.error()["type"] == "Busy"
        assert int(reply.headers["Retry-After"]) >= 1
        with pytest.raises(Busy):
            await client.submit("life", {"pattern": GLIDER})
        await client.cancel(long.id)


async def test_a_draining_daemon_answers_503_with_retry_after() -> None:
    stalled = Stalled(b"x" * 1024)
    urls: list[str] = []
    stop = anyio.Event()
    replies: dict[str, Any] = {}

    async def daemon() -> None:
        async with serve({"jobs": {"shutdown_grace_s": 60}, **FAST}) as client:
            urls.append(client.base_url)
            await stop.wait()
        # Leaving drains: the stalled upload holds the drain open for the test to look at it.

    async def upload(client: Client) -> None:
        headers = {"Content-Type": "application/octet-stream", "X-Fanout-Password": "pw"}
        replies["upload"] = await request(
            client, "POST", "/v1/jobs/encrypt", data=stalled.chunks(), headers=headers
        )

    async with anyio.create_task_group() as group:
        group.start_soon(daemon)
        await eventually(lambda: _true(bool(urls)))
        async with Client(urls[0]) as client:
            group.start_soon(upload, client)

            async def upload_running() -> bool:
                return bool((await client.list(status=JobState.RUNNING)).jobs)

            await eventually(upload_running)
            stop.set()

            async def draining() -> bool:
                return bool((await client.health())["draining"])

            await eventually(draining)
            body = {"kind": "life", "params": {"pattern": GLIDER}}
            reply = await request(client, "POST", "/v1/jobs", json=body)
            assert reply.status == 503
            assert reply.error()["type"] == "Draining"
            assert int(reply.headers["Retry-After"]) >= 1
            with pytest.raises(Draining):
                await client.submit("life", {"pattern": GLIDER})
            assert (await request(client, "GET", "/v1/jobs")).status == 200
            stalled.release()
    assert replies["upload"].status == 201


async def _true(value: bool) -> bool:
    return value


# --- refused at submission ------------------------------------------------------------------


def _cli_error(pattern: str, *args: str) -> str:
    """What ``fanout life -`` says of the same pattern text, under the same cell limit."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("FANOUT_")}
    done = subprocess.run(
        [sys.executable, "-m", "service", "life", "-", *args],
        input=pattern,
        env={**env, "FANOUT_LIFE__MAX_CELLS": "1000000"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    return done.stderr.removeprefix("fanout: error: ").strip()


@pytest.mark.parametrize(
    ("params", "argv"),
    [
        ({"pattern": "x = 1, y = 1\nq!"}, ()),
        ({"pattern": "x = 2, y = 1\n3o!"}, ()),
        ({"pattern": "#CXRLE Pos=20,0\nx = 3, y = 1, rule = B3/S23:T10,10\n3o!"}, ()),
        ({"pattern": GLIDER, "rule": "B03/S23"}, ("--rule", "B03/S23")),
        (
            {"pattern": GLIDER, "topology": "plane", "size": "2x2"},
            ("--topology", "plane", "--size", "2x2"),
        ),
        ({"random": "2000x2000", "topology": "torus"}, None),
        ({"pattern": "#Life 1.06\n0 0\n5000000 5000000\n"}, ()),
    ],
)
async def test_a_life_job_that_cannot_run_is_refused_at_submission(
    params: dict[str, Any], argv: tuple[str, ...] | None
) -> None:
    limits = {"life": {"max_cells": 1_000_000}}
    async with serve(limits) as client:
        reply = await request(client, "POST", "/v1/jobs", json={"kind": "life", "params": params})
        assert reply.status == 400, reply.body
        message = reply.error()["message"]
        assert (await client.list()).jobs == []  # no job was made
    if argv is not None:
        cli = await anyio.to_thread.run_sync(lambda: _cli_error(params["pattern"], *argv))
        assert message == cli.replace("<stdin>", "params.pattern")
