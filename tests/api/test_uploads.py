"""POST /v1/jobs/encrypt and /decrypt: bodies streamed into crypto jobs, limits, cancels, SSE."""

from __future__ import annotations

import io
from functools import partial
from typing import Any, Final

import anyio
import pytest

from service.client import Client
from service.jobs.model import Job, JobState
from service.testing import serve
from tests._sealed import sealed
from tests.adapters._children import child_pids
from tests.api._http import OCTETS, Stalled, eventually, in_background, request, upload

pytestmark = pytest.mark.anyio

FAST: Final = {"crypto": {"pbkdf2_iterations": 1_000}}
PLAIN: Final = bytes(range(256)) * 4096  # 1 MiB


async def _running_upload(client: Client) -> Job:
    found: list[Job] = []

    async def running() -> bool:
        found[:] = (await client.list(status=JobState.RUNNING, kind="encrypt")).jobs
        return bool(found)

    await eventually(running)
    return found[0]


async def test_upload_round_trip_with_options() -> None:
    async with serve(FAST) as client:
        options = {"cipher": "aes-128-cbc", "digest": "sha512", "iterations": "2000"}
        sealed = await upload(client, "encrypt", PLAIN, params=options)
        assert sealed.status == 201
        job = sealed.job()
        assert sealed.headers["Location"] == f"/v1/jobs/{job.id}"
        assert job.status is JobState.SUCCEEDED
        assert job.result is not None
        assert (job.result["cipher"], job.result["iterations"]) == ("aes-128-cbc", 2000)
        assert job.result["bytes_in"] == len(PLAIN)
        result = await request(client, "GET", f"/v1/jobs/{job.id}/result")
        assert result.headers["Content-Type"] == "application/octet-stream"
        opened = await upload(client, "decrypt", result.body, params=options)
        assert opened.status == 201
        plain = await request(client, "GET", f"/v1/jobs/{opened.job().id}/result")
        assert plain.body == PLAIN


async def test_a_wrong_password_is_a_failed_job_not_an_http_error() -> None:
    async with serve(FAST) as client:
        made = partial(sealed, PLAIN, OCTETS["X-Fanout-Password"], wrong="no")
        ciphertext = await anyio.to_thread.run_sync(made)
        wrong = await upload(client, "decrypt", ciphertext, headers={"X-Fanout-Password": "no"})
        assert wrong.status == 200
        job = wrong.job()
        assert job.status is JobState.FAILED
        assert job.error is not None
        assert job.error.type == "CryptoFailed"


@pytest.mark.parametrize("wrong", ["e", "o", "wrong", "password"])
async def test_a_wrong_password_error_reveals_nothing_of_it(wrong: str) -> None:
    # Masking the password in a message made of openssl's words would spell out which letters
    # it has ('op***nssl'); messages are made of known parts and never masked.
    async with serve(FAST) as client:
        made = partial(sealed, PLAIN[:4096], OCTETS["X-Fanout-Password"], wrong=wrong)
        ciphertext = await anyio.to_thread.run_sync(made)
        reply = await upload(client, "decrypt", ciphertext, headers={"X-Fanout-Password": wrong})
        error = reply.job().error
        assert error is not None
        assert error.message == (
            "openssl enc failed (exit code 1): bad decrypt: wrong password or corrupted input"
        )


@pytest.mark.parametrize(
    ("options", "headers", "status", "field"),
    [
        ({"password": "pw"}, {}, 400, "password"),
        ({"colour": "red"}, {}, 400, "colour"),
        ({"iterations": "many"}, {}, 400, "iterations"),
        ({"iterations": "5"}, {}, 400, "params.iterations"),
        ({"data": "aGk="}, {}, 400, "data"),
        ({}, {"X-Fanout-Password": ""}, 400, "X-Fanout-Password"),
        ({}, {"Content-Type": "text/plain"}, 415, None),
    ],
)
async def test_upload_refusals(
    options: dict[str, str], headers: dict[str, str], status: int, field: str | None
) -> None:
    async with serve(FAST) as client:
        reply = await upload(client, "encrypt", b"x", params=options, headers=headers)
        assert reply.status == status, reply.body
        assert reply.error().get("field") == field


async def test_an_upload_without_the_password_header_says_which_header() -> None:
    async with serve(FAST) as client:
        headers = {"Content-Type": "application/octet-stream"}
        body = io.BytesIO(b"x")
        reply = await request(client, "POST", "/v1/jobs/encrypt", data=body, headers=headers)
        assert reply.status == 400
        assert reply.error() == {
            "type": "BadParam",
            "message": "the encrypt upload needs the X-Fanout-Password header",
            "field": "X-Fanout-Password",
        }


async def test_a_declared_length_past_the_limit_is_413_before_reading() -> None:
    async with serve({"crypto": {"max_payload_bytes": 1000}}) as client:
        reply = await upload(client, "encrypt", b"x" * 1001)
        assert reply.status == 413
        assert reply.error()["type"] == "PayloadTooLarge"
        assert "1001 bytes" in reply.error()["message"]
        assert (await client.list()).jobs == []


async def test_a_streamed_body_past_the_limit_is_413_from_the_job() -> None:
    async def chunks() -> Any:
        for _ in range(4):
            yield b"y" * 600

    async with serve({"crypto": {"max_payload_bytes": 1000, "pbkdf2_iterations": 1_000}}) as client:
        reply = await upload(client, "encrypt", chunks())
        assert reply.status == 413
        assert reply.error()["type"] == "PayloadTooLarge"
        (job,) = (await client.list()).jobs
        assert job.status is JobState.FAILED


async def test_cancel_a_stalled_upload_leaves_no_openssl_child() -> None:
    before = child_pids()
    stalled = Stalled(b"z" * 65536)
    async with serve(FAST) as client, anyio.create_task_group() as group:
        reply = in_background(group, lambda: upload(client, "encrypt", stalled.chunks()))
        job = await _running_upload(client)
        assert child_pids() - before, "openssl should be running"
        cancelled = await client.cancel(job.id)
        assert cancelled.status is JobState.CANCELLED

        async def answered() -> bool:
            return reply() is not None

        await eventually(answered)
        answer = reply()
        assert answer is not None
        assert answer.job().status is JobState.CANCELLED
        stalled.release()

        async def reaped() -> bool:
            return not child_pids() - before

        await eventually(reaped)
        ended = await request(client, "GET", f"/v1/jobs/{job.id}/result")
        assert ended.status == 409


async def test_events_show_progress_then_the_end() -> None:
    stalled = Stalled(b"a" * 65536, b"b" * 65536)
    async with serve(FAST) as client, anyio.create_task_group() as group:
        reply = in_background(group, lambda: upload(client, "encrypt", stalled.chunks()))
        job = await _running_upload(client)
        seen: list[Job] = []
        async for snapshot in client.events(job.id):
            seen.append(snapshot)
            if snapshot.progress.done >= len(stalled.first):
                stalled.release()
        assert seen[0].status is JobState.RUNNING
        assert any(s.status is JobState.RUNNING and s.progress.done > 0 for s in seen)
        assert seen[-1].status is JobState.SUCCEEDED
        assert [s.status for s in seen].count(JobState.SUCCEEDED) == 1
        assert seen[-1].progress.done == len(stalled.first) + len(stalled.rest)

        async def answered() -> bool:
            return reply() is not None

        await eventually(answered)
        answer = reply()
        assert answer is not None
        assert answer.status == 201
