"""Request ids: taken from ``X-Request-Id`` when the caller sends a sane one, else made here.

Every response carries the id back in ``X-Request-Id``, error bodies of real bugs quote it,
and every log line about the request names it, so one grep follows a request end to end.
"""

from __future__ import annotations

import random
import re
from typing import Final

from aiohttp import web
from aiohttp.typedefs import Handler

__all__ = ["HEADER", "REQUEST_ID", "request_id", "request_id_middleware", "send_request_id"]

HEADER: Final = "X-Request-Id"
REQUEST_ID: Final = web.RequestKey("fanout.request_id", str)
# An id from the caller goes into logs and headers as it is, so only harmless ones are kept.
_SANE: Final = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def request_id(request: web.BaseRequest) -> str:
    """The request's id ("-" before the middleware has run, e.g. for a malformed request)."""
    found = request.get(REQUEST_ID)
    return found if isinstance(found, str) else "-"


@web.middleware
async def request_id_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The outermost middleware: give the request its id before anything else runs."""
    given = request.headers.get(HEADER, "")
    # 128 bits from ``random``, not ``uuid4``: an id only needs to be unique, and os.urandom
    # is a system call on every request (see ``service.jobs.model.new_job_id``).
    request[REQUEST_ID] = given if _SANE.fullmatch(given) else f"{random.getrandbits(128):032x}"
    return await handler(request)


async def send_request_id(request: web.Request, response: web.StreamResponse) -> None:
    """An ``on_response_prepare`` hook: every response, streamed ones too, carries the id."""
    response.headers[HEADER] = request_id(request)
