"""The tables of hostile requests share this: how a row is written, and how it is checked.

Each row of a table is one request, written byte for byte (``tests.reliability._raw``: paths
and headers that are not UTF-8, lying lengths), and what must come back: the status, the
error's ``type`` and ``field``, and words of its ``message`` that name the problem and what is
allowed. Whatever the input, the daemon answers in time, never with a 500, and logs no error
(a ``bug`` line would mean a traceback). One module per surface uses it: ``test_json``
(bodies, types, numbers), ``test_http`` (query, path, headers), ``test_life``, ``test_crypto``
(JSON jobs and uploads), ``test_pipeline`` (sources, and what is refused only when fetched).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import pytest

from service.testing import serve
from tests.reliability._raw import Header, exchange

Settings = Mapping[str, Mapping[str, object]]

FAST: Final[Settings] = {"crypto": {"pbkdf2_iterations": 1_000}}
PIPELINE: Final[Settings] = {
    "pipeline": {
        "allowed_sources": "http://10.0.0.1/img/,https://images.example/",
        "allow_private": False,
        # Never written: every pipeline row is refused before a job exists.
        "destinations": {"thumbs": "/nonexistent/fanout-hostile"},
    }
}
DEEP: Final = 100_000
JSON: Final[Header] = (b"Content-Type", b"application/json")
OCTETS: Final[Header] = (b"Content-Type", b"application/octet-stream")
PASSWORD: Final[Header] = (b"X-Fanout-Password", b"pw")
PARSER: Final = "aiohttp"
"""The ``type`` of a row refused by aiohttp's HTTP parser, before the application runs: a
400 in plain text (the application cannot shape it), with no ``error`` object."""


@dataclass(frozen=True, slots=True)
class Case:
    """One request and what must come back."""

    method: bytes
    target: bytes
    headers: tuple[Header, ...]
    body: bytes | None
    status: int
    type: str
    field: str | None
    says: tuple[str, ...]
    settings: Settings
    length: int | None = None


def encoded(body: bytes | Mapping[str, Any]) -> bytes:
    return body if isinstance(body, bytes) else json.dumps(body).encode()


def submit(
    name: str,
    body: bytes | Mapping[str, Any],
    *,
    status: int = 400,
    type: str = "BadParam",
    field: str | None = None,
    says: tuple[str, ...] = (),
    settings: Settings = FAST,
    headers: tuple[Header, ...] = (JSON,),
) -> Any:
    """``POST /v1/jobs`` with ``body`` (bytes as they are, a mapping as JSON)."""
    case = Case(b"POST", b"/v1/jobs", headers, encoded(body), status, type, field, says, settings)
    return pytest.param(case, id=name)


def life(name: str, params: Mapping[str, Any], field: str, *says: str) -> Any:
    """A life submission refused on ``field``."""
    return submit(name, {"kind": "life", "params": params}, field=field, says=says)


def encrypt(name: str, params: Mapping[str, Any], field: str, *says: str) -> Any:
    """An encrypt submission (password "pw" unless ``params`` says) refused on ``field``."""
    body = {"kind": "encrypt", "params": {"password": "pw", "data": "aGk=", **params}}
    return submit(name, body, field=field, says=says)


def pipeline(name: str, params: Mapping[str, Any], field: str, *says: str) -> Any:
    """A pipeline submission refused on ``field``, under ``PIPELINE``'s settings."""
    body = {"kind": "pipeline", "params": {"destination": "thumbs", **params}}
    return submit(name, body, field=field, says=says, settings=PIPELINE)


def source(name: str, url: str, *says: str) -> Any:
    """A pipeline whose one source is refused at submission."""
    return pipeline(name, {"sources": [url]}, "params.sources[0]", *says)


def upload(
    name: str,
    query: str,
    *,
    status: int = 400,
    type: str = "BadParam",
    field: str | None = None,
    says: tuple[str, ...] = (),
    headers: tuple[Header, ...] = (OCTETS, PASSWORD),
    body: bytes = b"plain",
    kind: str = "encrypt",
    length: int | None = None,
) -> Any:
    """``POST /v1/jobs/{kind}?{query}`` with a raw body."""
    target = f"/v1/jobs/{kind}{'?' if query else ''}{query}".encode()
    case = Case(b"POST", target, headers, body, status, type, field, says, FAST, length)
    return pytest.param(case, id=name)


def get(
    name: str,
    target: bytes,
    *,
    status: int = 400,
    type: str = "BadParam",
    field: str | None = None,
    says: tuple[str, ...] = (),
    method: bytes = b"GET",
    headers: tuple[Header, ...] = (),
) -> Any:
    """A request without a body (a query string, a job id in the path)."""
    case = Case(method, target, headers, None, status, type, field, says, FAST)
    return pytest.param(case, id=name)


def at(body: bytes, byte: bytes) -> str:
    """The words saying where ``body`` stops being UTF-8 (at the first ``byte``)."""
    return f"byte {body.index(byte)} (0x{byte[0]:02x}) is not UTF-8"


_NOT_UTF8_VALUE: Final = b'{"kind": "life", "params": {"random": "\xff\xfe"}}'
_NOT_UTF8_KEY: Final = b'{"k\xc3(ind": "life"}'
OVERLONG: Final = b'{"kind": "\xc0\xaf"}'  # an overlong "/", the classic UTF-8 smuggle
_NOT_UTF8: Final = ("JSON text must be UTF-8",)
MALFORMED: Final = "malformed JSON body"
TOO_DEEP: Final = ("nest too deeply", "a few levels")


def grouped(**groups: list[Any]) -> list[Any]:
    """Every row, its id prefixed with its group's name: ``json/truncated``."""
    return [
        pytest.param(*row.values, id=f"{group}/{row.id}")
        for group, rows in groups.items()
        for row in rows
    ]


async def check_refused(case: Case, caplog: pytest.LogCaptureFixture) -> None:
    """Send the case's request to a fresh daemon; assert the status, type, field and words."""
    async with serve(case.settings) as client:
        reply = await exchange(
            client.base_url, case.method, case.target, case.headers, case.body, length=case.length
        )
        listed = await client.list()
    assert reply.status == case.status, reply.body[:500]
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]
    if case.type == PARSER:
        # The media type the document declares for it beside the JSON error.
        assert reply.headers["Content-Type"] == "text/plain; charset=utf-8"
        assert not reply.body.startswith(b"{")
        for words in case.says:
            assert words.encode() in reply.body, reply.body[:300]
        return
    error = reply.error()
    assert error["type"] == case.type, error
    assert error.get("field") == case.field, error
    for words in case.says:
        assert words in error["message"], error
    # A refusal leaves no job behind, except an upload's, which ran to find its fault.
    assert not listed.jobs or case.target.startswith((b"/v1/jobs/encrypt", b"/v1/jobs/decrypt"))


def refusal_test(**groups: list[Any]) -> Callable[..., Awaitable[None]]:
    """The test every table module has: each row of ``groups`` sent, and its answer checked."""

    @pytest.mark.anyio
    @pytest.mark.parametrize("case", grouped(**groups))
    async def test_refused_with_a_status_and_a_message(
        case: Case, caplog: pytest.LogCaptureFixture
    ) -> None:
        await check_refused(case, caplog)

    return test_refused_with_a_status_and_a_message
