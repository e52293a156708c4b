"""service.api.problems: every failure a handler can raise, as the JSON error body and status.

A small application of its own, with the API's middlewares and handlers that raise, served
for real on 127.0.0.1, shows the mapping without needing a job to fail that way.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Final

import aiohttp
import msgspec
import pytest
from aiohttp import web
from multidict import CIMultiDict

from service.api.problems import HttpProblem, error_middleware, status_named, status_of
from service.api.tracing import request_id_middleware, send_request_id
from service.errors import (
    BadParam,
    Busy,
    ConfigError,
    Conflict,
    CryptoFailed,
    Draining,
    FanoutError,
    LimitExceeded,
    NotAvailable,
    NotFound,
    PayloadTooLarge,
    StoreBusy,
    Unauthorized,
)

pytestmark = pytest.mark.anyio

FAILURES: Final[dict[str, Exception]] = {
    "bad-param": BadParam("params.rule: no", field="params.rule"),
    "busy": Busy("full", retry_after_s=7),
    "draining": Draining("stopping"),
    "store-busy": StoreBusy("the job store is busy", retry_after_s=2),
    "problem": HttpProblem(415, "UnsupportedMediaType", "send json"),
    "not-available": NotAvailable("later"),
    "bug": RuntimeError("secret internals"),
}


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (BadParam("x"), 400),
        (ConfigError("x"), 400),
        (LimitExceeded("x"), 400),
        (PayloadTooLarge("x"), 413),
        (Unauthorized("x"), 401),
        (NotFound("x"), 404),
        (Conflict("x"), 409),
        (Busy("x"), 429),
        (Draining("x"), 503),
        (StoreBusy("x"), 503),
        (NotAvailable("x"), 501),
        (CryptoFailed("x"), 500),
        (FanoutError("x"), 500),
    ],
)
def test_statuses(error: FanoutError, status: int) -> None:
    assert status_of(error) == status


@pytest.mark.parametrize(
    ("name", "status"),
    [
        ("PayloadTooLarge", 413),
        ("BadParam", 400),
        ("Unsupported", 400),
        ("InvalidInput", 400),
        ("CryptoFailed", 500),
        ("TimedOut", 500),
        ("FanoutError", 500),
        ("KeyError", 500),
    ],
)
def test_statuses_by_the_name_a_job_error_carries(name: str, status: int) -> None:
    assert status_named(name) == status


def _raising(error: Exception) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handler(request: web.Request) -> web.StreamResponse:
        raise error

    return handler


@asynccontextmanager
async def _app() -> AsyncIterator[str]:
    app = web.Application(middlewares=[request_id_middleware, error_middleware])
    for name, error in FAILURES.items():
        app.router.add_get(f"/{name}", _raising(error))
    app.on_response_prepare.append(send_request_id)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


async def _get(base: str, path: str) -> tuple[int, CIMultiDict[str], dict[str, object]]:
    async with aiohttp.ClientSession() as session, session.get(base + path) as response:
        body = msgspec.json.decode(await response.read())
        return response.status, CIMultiDict(response.headers), body["error"]


async def test_service_errors_keep_their_details() -> None:
    async with _app() as base:
        status, _, error = await _get(base, "/bad-param")
        assert (status, error) == (
            400,
            {"type": "BadParam", "message": "params.rule: no", "field": "params.rule"},
        )
        status, headers, error = await _get(base, "/busy")
        assert (status, headers["Retry-After"], error["type"]) == (429, "7", "Busy")
        status, headers, _ = await _get(base, "/draining")
        assert (status, headers["Retry-After"]) == (503, "5")
        status, headers, error = await _get(base, "/store-busy")
        assert (status, headers["Retry-After"], error["type"]) == (503, "2", "StoreBusy")
        assert (await _get(base, "/problem"))[0] == 415
        assert (await _get(base, "/not-available"))[0] == 501


async def test_a_bug_is_500_with_the_request_id_and_no_details(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with _app() as base:
        with caplog.at_level(logging.ERROR, logger="fanout.api"):
            status, headers, error = await _get(base, "/bug")
    rid = headers["X-Request-Id"]
    assert status == 500
    assert error == {"type": "InternalError", "message": f"internal error (request id {rid})"}
    (record,) = [r for r in caplog.records if r.name == "fanout.api"]
    assert f"request_id={rid}" in record.getMessage()
    assert record.exc_info is not None
