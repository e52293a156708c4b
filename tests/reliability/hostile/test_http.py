"""Hostile query strings, paths and headers; each refused with its 4xx."""

from __future__ import annotations

import re
from typing import Any, Final

import pytest

from service.testing import serve
from tests.reliability._raw import exchange
from tests.reliability.hostile._cases import (
    FAST,
    JSON,
    PARSER,
    Case,
    get,
    refusal_test,
)

QUERY_CASES: Final = [
    get(
        "limit-negative",
        b"/v1/jobs?limit=-1",
        field="limit",
        says=("limit -1: must be from 1 to 500",),
    ),
    get(
        "limit-huge", b"/v1/jobs?limit=" + b"9" * 30, field="limit", says=("must be from 1 to 500",)
    ),
    get(
        "limit-1e999",
        b"/v1/jobs?limit=1e999",
        field="limit",
        says=("limit='1e999'", "Number out of range"),
    ),
    get("limit-nan", b"/v1/jobs?limit=NaN", field="limit", says=("limit='NaN'", "Expected `int`")),
    get("limit-empty", b"/v1/jobs?limit=", field="limit", says=("Expected `int`",)),
    get(
        "status-escaped-not-utf8",
        b"/v1/jobs?status=%ff",
        field="status",
        says=("choose one of queued, running, succeeded",),
    ),
    get("status-empty", b"/v1/jobs?status=", field="status", says=("status=''",)),
    get(
        "kind-NUL",
        b"/v1/jobs?kind=%00",
        field="kind",
        says=("unknown kind '\\x00'", "choose one of life"),
    ),
    get(
        "cursor-traversal",
        b"/v1/jobs?cursor=..%2f..%2fetc%2fpasswd",
        field="cursor",
        says=("cursor '../../etc/passwd': must be a job id from a page",),
    ),
    get("raw-not-utf8", b"/v1/jobs?status=\xff", type=PARSER),
]


def missing(name: str, target: bytes, named: str, *, method: bytes = b"GET") -> Any:
    """A path whose job id is hostile: 404, naming the id as decoded.

    An id is never joined to a file path: either the router finds no route (``{id}`` takes
    only a job id's characters) or the store finds no such job. Either message names it.
    """
    case = Case(method, target, (), None, 404, "NotFound", None, (named,), FAST)
    return pytest.param(case, id=name)


PATH_CASES: Final = [
    missing("traversal", b"/v1/jobs/..%2f..%2fetc", "../../etc'"),
    missing("traversal-result", b"/v1/jobs/..%2f..%2fetc%2fpasswd/result", "../../etc/passwd"),
    missing("traversal-events", b"/v1/jobs/..%2F..%2Fetc/events", "../../etc"),
    missing("traversal-cancel", b"/v1/jobs/..%2f..%2fetc/cancel", "../../etc", method=b"POST"),
    missing("absolute-path", b"/v1/jobs/%2fetc%2fpasswd/result", "/etc/passwd"),
    missing("backslashes", b"/v1/jobs/..%5c..%5cetc/result", "..\\\\..\\\\etc"),
    missing("NUL", b"/v1/jobs/%00/result", "\\x00"),
    missing("dot-dot-escaped", b"/v1/jobs/%2e%2e/result", ".."),
    missing("dot-dot-raw", b"/v1/jobs/../../etc/passwd", "no route '/v1/jobs/../../etc/passwd'"),
    get("raw-not-utf8", b"/v1/jobs/\xff\xfe", type=PARSER),
]

HEADER_CASES: Final = [
    get(
        "content-length-negative",
        b"/v1/jobs",
        method=b"POST",
        type=PARSER,
        headers=(JSON, (b"Content-Length", b"-5")),
    ),
    get(
        "content-length-overflow",
        b"/v1/jobs",
        method=b"POST",
        type=PARSER,
        headers=(JSON, (b"Content-Length", b"9" * 30)),
    ),
    get("control-character", b"/v1/jobs", type=PARSER, headers=((b"X-Note", b"a\x01b"),)),
    # Found by the fuzzer: a query of a parameter repeated past 8 KiB.
    get("request-line-too-long", b"/v1/jobs?kind=" + b"x" * 9000, type=PARSER, says=("8190",)),
    get(
        "header-too-long",
        b"/v1/jobs",
        type=PARSER,
        says=("8190",),
        headers=((b"X-Note", b"x" * 9000),),
    ),
]


test_refused_with_a_status_and_a_message = refusal_test(
    query=QUERY_CASES, path=PATH_CASES, header=HEADER_CASES
)


@pytest.mark.anyio
async def test_a_request_id_that_is_not_utf8_is_replaced_never_echoed() -> None:
    async with serve() as client:
        for method, target, body in ((b"GET", b"/v1/jobs", None), (b"POST", b"/v1/jobs", b"{")):
            headers = ((b"X-Request-Id", b"\xff\xfe ../"), JSON)
            reply = await exchange(client.base_url, method, target, headers, body)
            assert reply.status == (200 if body is None else 400)
            assert re.fullmatch(r"[0-9a-f]{32}", reply.headers["x-request-id"])
