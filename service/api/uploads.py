"""``POST /v1/jobs/encrypt`` and ``/v1/jobs/decrypt``: a raw body streamed into a crypto job.

The body (``application/octet-stream``) goes to the job chunk by chunk as it arrives, never
whole in memory; options come as query parameters (``?cipher=…&iterations=…``, converted by
the kind's parameter Struct), the password in the ``X-Fanout-Password`` header, never in the
URL (URLs end up in logs). A declared ``Content-Length`` past ``[crypto] max_payload_bytes``
is refused with 413 before a byte is read; an undeclared one is cut off at the limit. The
response is the finished job: 201 when it succeeded (its ``Location`` has the result), 200
with the job's error when it failed (a wrong password, corrupted input, a timeout); a job
that failed on the request's own fault (past the limit, an unknown or legacy cipher) is the
error that fault maps to (413, 400).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Final

import msgspec
from aiohttp import web

from service.api.bodies import json_response, query_value, require_content_type
from service.api.jobs import PASSWORD_HEADER, job_location, take_secret
from service.api.logs import note_job
from service.api.problems import error_response, status_named
from service.api.state import KINDS, MANAGER, SETTINGS
from service.errors import BadParam, PayloadTooLarge
from service.jobs.kind import Kind
from service.jobs.model import JobState

__all__ = ["BODY_FIELD", "query_params", "upload_handler"]

BODY_FIELD: Final = "data"
"""The parameter a JSON submission carries its payload in; an upload's payload is its body."""


def upload_handler(kind: str) -> Callable[[web.Request], Awaitable[web.Response]]:
    """The handler of ``POST /v1/jobs/{kind}`` for ``encrypt`` or ``decrypt``."""

    async def upload(request: web.Request) -> web.Response:
        limit = request.app[SETTINGS].crypto.max_payload_bytes
        _check_length(request, limit)
        require_content_type(request, "application/octet-stream")
        if not request.headers.get(PASSWORD_HEADER):
            raise BadParam(
                f"the {kind} upload needs the {PASSWORD_HEADER} header", field=PASSWORD_HEADER
            )
        params = query_params(request, request.app[KINDS][kind])
        password = take_secret(request.app[KINDS][kind], {}, request.headers[PASSWORD_HEADER])
        chunk = request.app[SETTINGS].crypto.chunk_bytes
        job = await request.app[MANAGER].submit(
            kind, params, secret=password, payload=_body(request, limit, chunk)
        )
        note_job(request, job)
        # A job the request itself doomed answers as that refusal would: a body past the limit
        # is known only as it streams, and a cipher only once openssl has been asked (the
        # daemon asks at start; a run asks again).
        if job.error is not None and 400 <= (refused := status_named(job.error.type)) < 500:
            return error_response(refused, job.error.type, job.error.message)
        status = 201 if job.status is JobState.SUCCEEDED else 200
        return json_response(job, status=status, headers={"Location": job_location(job)})

    return upload


def query_params(request: web.Request, kind: Kind) -> dict[str, Any]:
    """The query string as the kind's parameters, each converted to its field's type.

    The kind's secret fields and ``data`` (the payload as base64: here the body is the payload)
    are not query parameters.
    """
    fields = {
        field.encode_name: field.type
        for field in msgspec.structs.fields(kind.params)
        if field.encode_name not in (*kind.secret_fields, BODY_FIELD)
    }
    params: dict[str, Any] = {}
    for name in request.query:
        if name in kind.secret_fields:
            raise BadParam(
                f"send the password in the {PASSWORD_HEADER} header, never in the URL", field=name
            )
        if name not in fields:
            allowed = ", ".join(fields)
            raise BadParam(f"unknown query parameter {name!r}: allowed are {allowed}", field=name)
        params[name] = query_value(request.query, name, fields[name])
    return params


def _check_length(request: web.Request, limit: int) -> None:
    declared = request.content_length
    if declared is not None and declared > limit:
        raise PayloadTooLarge(
            f"the body is {declared} bytes; [crypto] max_payload_bytes allows {limit}"
        )


async def _body(request: web.Request, limit: int, chunk: int) -> AsyncIterator[bytes]:
    """The body as it arrives; PayloadTooLarge past ``limit`` (for bodies sent chunked)."""
    seen = 0
    async for data in request.content.iter_chunked(chunk):
        seen += len(data)
        if seen > limit:
            raise PayloadTooLarge(
                f"the body goes past {limit} bytes, the [crypto] max_payload_bytes limit"
            )
        yield data
