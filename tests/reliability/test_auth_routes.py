"""Every protected route refuses a missing, wrong or malformed token; secrets never reach a log.

The routes come from the OpenAPI document the daemon serves (built from the same table as its
router): an operation whose ``security`` is not empty needs the token. Each is asked with every
kind of bad ``Authorization`` header, written byte for byte (``tests.reliability._raw``), and
must answer 401 with ``WWW-Authenticate: Bearer``, quoting nothing of what was sent.

Then a real ``fanout serve`` process is asked to do work, right and wrong, and its stderr (the
access log, job lines, aiohttp's own complaints) must never hold the token or a password.
``tests/api/test_auth.py`` covers where the token comes from.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import pytest

from service.api import ROUTES, create_app, openapi_document
from service.client import Client
from service.config import load_settings
from service.daemon import running
from service.jobs.kinds import KINDS
from service.jobs.model import JobState
from service.testing import serve
from tests.api._http import Reply
from tests.reliability._daemon import spawned
from tests.reliability._raw import Header, exchange

TOKEN: Final = "T0ken-7c1e4b9a-never-logged"
PASSWORD: Final = "Pa55-d93f0a2e-never-logged"
UNKNOWN_ID: Final = "0" * 26
"""A well-formed job id that no job has: a route past the token check answers 404."""
BAD_HEADERS: Final[dict[str, tuple[bytes, ...]]] = {
    "missing": (),
    "empty": (b"",),
    "wrong-token": (b"Bearer wrong",),
    "token-in-upper-case": (b"Bearer " + TOKEN.upper().encode(),),
    "token-cut-short": (b"Bearer " + TOKEN[:-1].encode(),),
    "bearer-alone": (b"Bearer",),
    "basic": (b"Basic " + base64.b64encode(f"user:{TOKEN}".encode()),),
    "token-without-scheme": (TOKEN.encode(),),
    "bearer-with-two-spaces": (b"bearer  " + TOKEN.encode(),),
    "bearer-with-a-tab": (b"Bearer\t" + TOKEN.encode(),),
    "trailing-junk": (b"Bearer " + TOKEN.encode() + b"x",),
    "trailing-word": (b"Bearer " + TOKEN.encode() + b" junk",),
    "two-tokens": (b"Bearer " + TOKEN.encode() + b", Bearer " + TOKEN.encode(),),
    "non-ascii": (b"Bearer " + TOKEN.encode() + "é".encode(),),
    "not-utf8": (b"Bearer " + TOKEN.encode() + b"\xff",),
    "wrong-then-right": (b"Bearer wrong", b"Bearer " + TOKEN.encode()),
}
AUTHORISED: Final[Header] = (b"Authorization", b"Bearer " + TOKEN.encode())


def _operations() -> Iterator[tuple[str, str, bool]]:
    """(method, path, needs the token) of every operation the document describes."""
    document = openapi_document(ROUTES, KINDS, version="0")
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            yield method.upper(), path, operation["security"] != []


OPERATIONS: Final = sorted(_operations())
PROTECTED: Final = [(method, path) for method, path, needs in OPERATIONS if needs]


def _target(path: str) -> bytes:
    return path.replace("{id}", UNKNOWN_ID).encode()


def _body(method: str) -> bytes | None:
    return b"{}" if method == "POST" else None


async def _ask(url: str, method: str, path: str, headers: tuple[Header, ...]) -> Reply:
    headers = ((b"Content-Type", b"application/json"), *headers)
    return await exchange(url, method.encode(), _target(path), headers, _body(method))


@pytest.mark.anyio
async def test_the_routes_tested_are_the_routes_served(tmp_path: Path) -> None:
    # The application the daemon serves, built around a running manager as the daemon does:
    # a route added to its router and not to the document (or the reverse) fails here.
    settings = load_settings(
        environ={},
        overrides={
            "http": {"port": 0},
            "storage": {"path": str(tmp_path / "db"), "artifacts_dir": str(tmp_path / "a")},
        },
    )
    async with running(settings, token=TOKEN) as daemon:
        app = create_app(daemon.manager, settings, token=TOKEN)
        routed = {
            (route.method, route.resource.canonical)
            for route in app.router.routes()
            if route.resource is not None and route.method != "HEAD"
        }
    assert routed == {(method, path) for method, path, _ in OPERATIONS}
    protected = {(method, path) for method, path in PROTECTED}
    assert {(m, p) for m, p in routed if p.startswith("/v1")} <= protected
    assert len(protected) >= 8
    assert ("GET", "/metrics") in protected


@pytest.mark.anyio
@pytest.mark.parametrize("authorization", list(BAD_HEADERS.values()), ids=list(BAD_HEADERS))
async def test_every_protected_route_refuses_a_bad_token(authorization: tuple[bytes, ...]) -> None:
    headers = tuple((b"Authorization", value) for value in authorization)
    async with serve(token=TOKEN) as client:
        served = await client.openapi()
        assert sorted(served["paths"]) == sorted({path for _, path, _ in OPERATIONS})
        for method, path in PROTECTED:
            reply = await _ask(client.base_url, method, path, headers)
            where = f"{method} {path}"
            assert reply.status == 401, (where, reply.body)
            assert reply.headers["www-authenticate"].startswith("Bearer"), where
            error = reply.error()
            assert error["type"] == "Unauthorized", where
            assert "Bearer <token>" in error["message"] or error["message"] == "wrong token"
            assert TOKEN not in error["message"], where
            assert TOKEN.upper() not in error["message"], where


@pytest.mark.anyio
async def test_the_right_token_passes_every_route_and_open_routes_need_none() -> None:
    async with serve(token=TOKEN) as client:
        for method, path, needs in OPERATIONS:
            headers = (AUTHORISED,) if needs else ()
            reply = await _ask(client.base_url, method, path, headers)
            assert reply.status not in (401, 500), (method, path, reply.body)
        for path in ("/healthz", "/openapi.json"):
            assert (await _ask(client.base_url, "GET", path, ())).status == 200


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("target", "status"),
    [
        pytest.param(b"/%761/jobs", 401, id="escaped-letter"),
        pytest.param(b"/v1/jobs?token=" + TOKEN.encode(), 401, id="token-in-the-query"),
        pytest.param(b"//v1/jobs", 404, id="double-slash"),
        pytest.param(b"/V1/jobs", 404, id="upper-case"),
        pytest.param(b"/v1/jobs/", 401, id="trailing-slash"),
        pytest.param(b"/v1/./jobs", 401, id="dot-segment"),
        # Dot segments are not resolved: an open route's prefix leads to no route at all.
        pytest.param(b"/healthz/../v1/jobs", 404, id="dot-dot-from-an-open-route"),
        pytest.param(b"/v1", 401, id="v1-alone"),
    ],
)
async def test_no_spelling_of_a_path_gets_past_the_token(target: bytes, status: int) -> None:
    async with serve(token=TOKEN) as client:
        reply = await exchange(client.base_url, b"GET", target)
    assert reply.status == status, reply.body


async def _work(url: str) -> None:
    """Authorised jobs with passwords, and refusals of every kind, against the daemon at url."""
    plain = base64.b64encode(b"attack at dawn").decode()
    async with Client(url, token=TOKEN) as client:
        sealed = await client.submit("encrypt", {"data": plain, "password": PASSWORD})
        headed = await client.submit("encrypt", {"data": plain}, password=PASSWORD)
        uploaded = await client.upload("encrypt", b"attack at dusk", password=PASSWORD)
        assert uploaded.status is JobState.SUCCEEDED, uploaded.error
        for job in (sealed, headed):
            assert (await client.wait(job.id, timeout_s=30)).status is JobState.SUCCEEDED
        ciphertext = base64.b64encode(await client.result(sealed.id)).decode()
        wrong = await client.submit("decrypt", {"data": ciphertext, "password": PASSWORD + "!"})
        assert (await client.wait(wrong.id, timeout_s=30)).status is JobState.FAILED
    token, password = TOKEN.encode(), PASSWORD.encode()
    octets = (b"Content-Type", b"application/octet-stream")
    refused: list[tuple[bytes, tuple[Header, ...], int]] = [
        (b"/v1/jobs", ((b"Authorization", b"Bearer " + token + b"x"),), 401),
        (b"/v1/jobs", ((b"Authorization", b"Basic " + token),), 401),
        (b"/v1/jobs", ((b"Authorization", b"Bearer " + token + b"\xff"),), 401),
        (b"/v1/jobs?access_token=" + token, (), 401),
        # aiohttp's parser refuses these lines; it used to log them, token and all.
        (b"/v1/jobs", ((b"Authorization ", b"Bearer " + token),), 400),
        (b"/v1/jobs", ((b"Authorization", b"Bearer " + token + b"\x01"),), 400),
        (b"/v1/jobs", ((b"X-Fanout-Password", password + b"\x7f"), AUTHORISED), 400),
    ]
    for target, headers, status in refused:
        assert (await exchange(url, b"GET", target, headers)).status == status, target
    uploads: list[tuple[bytes, tuple[Header, ...]]] = [
        (b"/v1/jobs/encrypt?password=" + password, (AUTHORISED, octets)),
        (b"/v1/jobs/encrypt", (AUTHORISED, octets, (b"X-Fanout-Password", password + b"\xff"))),
        (
            b"/v1/jobs/encrypt?cipher=aes-999",
            (AUTHORISED, octets, (b"X-Fanout-Password", password)),
        ),
    ]
    for target, headers in uploads:
        assert (await exchange(url, b"POST", target, headers, b"x")).status == 400, target


@pytest.mark.anyio
async def test_the_daemon_never_logs_the_token_or_a_password(tmp_path: Path) -> None:
    variables = {"FANOUT_TOKEN": TOKEN, "FANOUT_CRYPTO__PBKDF2_ITERATIONS": "1000"}
    async with spawned(tmp_path, variables) as daemon:
        await _work(daemon.url)
    log = daemon.log
    # The log was written (or its silence would prove nothing): every request has its line.
    assert log.count(" status=401 ") >= 4
    assert log.count("unparsable status=400") == 3
    assert " status=202 " in log
    assert " status=201 " in log
    for secret in (TOKEN, PASSWORD):
        leaks = [line for line in daemon.lines if secret in line]
        assert leaks == [], leaks
    assert "Traceback" not in log
    assert " bug " not in log
