"""service.client: error bodies back into service.errors; the client against a real daemon.

The daemon is ``service.testing.serve`` (aiohttp on 127.0.0.1): asyncio only.
"""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from service.client import Client
from service.client.errors import error_from
from service.errors import (
    BadParam,
    Busy,
    Conflict,
    Draining,
    FanoutError,
    InvalidInput,
    NotFound,
    PatternError,
    PayloadTooLarge,
    StoreBusy,
    Unauthorized,
)
from service.jobs.model import JobState
from service.testing import serve
from tests.fixtures import GLIDER_NAMED as GLIDER

pytestmark = pytest.mark.anyio

FAST = {"crypto": {"pbkdf2_iterations": 1_000}}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _body(type_: str, message: str, field: str | None = None) -> bytes:
    detail = f'"type": "{type_}", "message": "{message}"'
    if field is not None:
        detail += f', "field": "{field}"'
    return ("{" + f'"error": {{{detail}}}' + "}").encode()


def test_the_type_names_the_class_and_keeps_the_message() -> None:
    exc = error_from(409, _body("Conflict", "job x is succeeded"), None)
    assert type(exc) is Conflict
    assert str(exc) == "job x is succeeded"


def test_a_bad_param_keeps_its_field() -> None:
    exc = error_from(400, _body("BadParam", "params.rule: no", "params.rule"), None)
    assert isinstance(exc, BadParam)
    assert exc.field == "params.rule"


def test_busy_draining_and_store_busy_keep_retry_after() -> None:
    busy = error_from(429, _body("Busy", "full"), "7")
    assert isinstance(busy, Busy)
    assert busy.retry_after_s == 7
    draining = error_from(503, _body("Draining", "stopping"), None)
    assert isinstance(draining, Draining)
    locked = error_from(503, _body("StoreBusy", "the job store is busy"), "2")
    assert isinstance(locked, StoreBusy)
    assert locked.retry_after_s == 2


def test_a_pattern_error_keeps_the_message_as_sent() -> None:
    exc = error_from(400, _body("PatternError", "x.rle:3:7: unexpected q"), None)
    assert isinstance(exc, PatternError)
    assert str(exc) == "x.rle:3:7: unexpected q"


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (400, InvalidInput),
        (401, Unauthorized),
        (404, NotFound),
        (413, PayloadTooLarge),
        (415, InvalidInput),
        (429, Busy),
        (503, Draining),
        (502, FanoutError),
    ],
)
def test_unknown_types_and_foreign_bodies_fall_back_on_the_status(
    status: int, expected: type[FanoutError]
) -> None:
    assert type(error_from(status, _body("Nonsense", "m"), None)) is expected
    foreign = error_from(status, b"<html>bad gateway</html>", None)
    assert type(foreign) is expected
    assert "bad gateway" in str(foreign)


def test_a_name_that_is_not_an_error_class_is_not_trusted() -> None:
    assert type(error_from(400, _body("Path", "m"), None)) is InvalidInput


async def test_submit_wait_get_list_and_result() -> None:
    async with serve() as client:
        job = await client.submit("life", {"pattern": GLIDER, "generations": 4})
        assert job.status is JobState.QUEUED
        done = await client.wait(job.id, timeout_s=60)
        assert done.status is JobState.SUCCEEDED
        assert (await client.get(job.id)).status is JobState.SUCCEEDED
        page = await client.list(kind="life")
        assert [listed.id for listed in page.jobs] == [job.id]
        assert page.next is None
        rle = await client.result(job.id)
        assert rle.startswith(b"#") or b"x = " in rle


async def test_save_result_streams_to_a_file(tmp_path: Path) -> None:
    async with serve() as client:
        job = await client.submit("life", {"pattern": GLIDER, "generations": 1})
        await client.wait(job.id, timeout_s=60)
        target = tmp_path / "out.rle"
        written = await client.save_result(job.id, target)
        assert written == target.stat().st_size == len(await client.result(job.id))


async def test_upload_bytes_and_a_path_round_trip(tmp_path: Path) -> None:
    plain = b"attack at dawn\n" * 1000
    source = tmp_path / "plain.txt"
    source.write_bytes(plain)
    async with serve(FAST) as client:
        sealed = await client.upload("encrypt", source, password="pw")
        assert sealed.status is JobState.SUCCEEDED
        ciphertext = await client.result(sealed.id)
        opened = await client.upload("decrypt", ciphertext, password="pw")
        assert opened.status is JobState.SUCCEEDED
        assert await client.result(opened.id) == plain


async def test_submit_with_a_password_header() -> None:
    async with serve(FAST) as client:
        data = base64.b64encode(b"secret stuff").decode()
        job = await client.submit("encrypt", {"data": data}, password="pw")
        done = await client.wait(job.id, timeout_s=60)
        assert done.status is JobState.SUCCEEDED, done.error
        assert "password" not in done.params


async def test_errors_arrive_as_service_errors() -> None:
    async with serve() as client:
        with pytest.raises(NotFound):
            await client.get("0" * 26)
        with pytest.raises(BadParam) as raised:
            await client.submit("life", {"pattern": GLIDER, "generations": -1})
        assert raised.value.field == "params.generations"
        job = await client.submit("life", {"pattern": GLIDER, "generations": 1})
        await client.wait(job.id, timeout_s=60)
        with pytest.raises(Conflict):
            await client.cancel(job.id)


async def test_a_token_is_sent_and_a_wrong_one_refused() -> None:
    async with serve(token="s3cret") as client:
        assert (await client.list()).jobs == []
        async with Client(client.base_url, token="wrong") as stranger:
            with pytest.raises(Unauthorized):
                await stranger.list()


async def test_an_unreachable_daemon_is_a_clear_error() -> None:
    async with serve() as client:
        url = client.base_url
    async with Client(url) as gone:
        with pytest.raises(FanoutError, match="cannot reach the fanout daemon"):
            await gone.get("0" * 26)


async def test_a_client_outside_async_with_says_so() -> None:
    with pytest.raises(RuntimeError, match="async with"):
        await Client("http://127.0.0.1:1").get("x")
