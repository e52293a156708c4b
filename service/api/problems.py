"""Every error the API answers with: a status, ``{"error": {"type", "message", "field"?}}``.

``FanoutError`` classes map to statuses here and nowhere else::

    BadParam, InvalidInput, ConfigError, LimitExceeded, Unsupported ...   400
    Unauthorized                                                          401 + WWW-Authenticate
    NotFound                                                              404
    Conflict                                                              409
    PayloadTooLarge                                                       413
    Busy                                                                  429 + Retry-After
    Draining, StoreBusy                                                   503 + Retry-After
    NotAvailable                                                          501

aiohttp's own answers (no such route 404, 405, a body past the size limit 413) get the same
body. A client that hangs up before its request is read (a body shorter than its
``Content-Length``) is its own doing: one WARNING line, and the access line's status is 499
(nginx's "client closed request"), an answer nobody is left to read. Anything else escaping
a handler is a bug: it is logged with its traceback and the request id, and the caller gets
500 ``internal error`` with that id, never the traceback.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, final

import msgspec
from aiohttp import web
from aiohttp.typedefs import Handler

from service.api.logs import API_LOG, line
from service.api.models import ErrorBody, ErrorDetail
from service.api.tracing import request_id
from service.errors import (
    BadParam,
    Busy,
    Conflict,
    FanoutError,
    InvalidInput,
    NotAvailable,
    NotFound,
    PayloadTooLarge,
    TryLater,
    Unauthorized,
)

__all__ = ["HttpProblem", "error_middleware", "error_response", "status_named", "status_of"]

# Most specific first: PayloadTooLarge is an InvalidInput, and must win over it.
_STATUS: Final[tuple[tuple[type[FanoutError], int], ...]] = (
    (PayloadTooLarge, 413),
    (InvalidInput, 400),
    (Unauthorized, 401),
    (NotFound, 404),
    (Conflict, 409),
    (Busy, 429),
    (TryLater, 503),  # Draining, StoreBusy
    (NotAvailable, 501),
)
_AIOHTTP_TYPES: Final[Mapping[int, str]] = {
    404: "NotFound",
    405: "MethodNotAllowed",
    413: "PayloadTooLarge",
    415: "UnsupportedMediaType",
}
_ENCODER: Final = msgspec.json.Encoder()


@final
class HttpProblem(Exception):
    """Raised by handlers for an HTTP-level refusal no service error names (415, say)."""

    def __init__(self, status: int, type: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.type = type
        self.message = message


def status_of(exc: FanoutError) -> int:
    """The HTTP status for a service error; 500 for one that is not the caller's doing."""
    return _status(type(exc))


def status_named(name: str) -> int:
    """The HTTP status for the service error class called ``name`` (a job's ``error.type``);
    500 for a name that is no ``FanoutError``."""
    found, pending = None, [FanoutError]
    while pending and found is None:
        cls = pending.pop()
        found = cls if cls.__name__ == name else None
        pending.extend(cls.__subclasses__())
    return 500 if found is None else _status(found)


def _status(error: type[FanoutError]) -> int:
    return next((status for cls, status in _STATUS if issubclass(error, cls)), 500)


def error_response(
    status: int,
    type: str,
    message: str,
    *,
    field: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    """A JSON error response."""
    body = _ENCODER.encode(ErrorBody(ErrorDetail(type, message, field)))
    return web.Response(status=status, body=body, content_type="application/json", headers=headers)


def _from_service(exc: FanoutError) -> web.Response:
    headers: dict[str, str] = {}
    if isinstance(exc, TryLater):
        headers["Retry-After"] = str(max(1, exc.retry_after_s))
    if isinstance(exc, Unauthorized):
        headers["WWW-Authenticate"] = 'Bearer realm="fanout"'
    field = exc.field if isinstance(exc, BadParam) else None
    return error_response(
        status_of(exc), type(exc).__name__, str(exc), field=field, headers=headers
    )


def _from_aiohttp(request: web.Request, exc: web.HTTPException) -> web.Response:
    headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
    if exc.status == 404 and (job := _job_named(request.path)) is not None:
        message = f"no job {job!r}: job ids are lowercase hex, as POST /v1/jobs gave them"
    elif exc.status == 404:
        message = f"no route {request.path!r}: see /openapi.json for the API"
    elif isinstance(exc, web.HTTPMethodNotAllowed):
        allowed = ", ".join(sorted(exc.allowed_methods))
        message = f"{exc.method} is not allowed on {request.path!r}: use {allowed}"
    else:
        message = exc.text or exc.reason
    kind = _AIOHTTP_TYPES.get(exc.status, "InvalidInput" if exc.status < 500 else "InternalError")
    return error_response(exc.status, kind, message or exc.reason, headers=headers)


CLIENT_GONE: Final = 499


def _client_gone(request: web.Request) -> web.Response:
    API_LOG.warning(
        line(
            "client gone",
            request_id=request_id(request),
            method=request.method,
            path=request.path,
            reason="the connection closed before the request was read",
        )
    )
    return error_response(
        CLIENT_GONE, "InvalidInput", "the connection closed before the request was read"
    )


def _job_named(path: str) -> str | None:
    """The would-be job id of a path shaped like a job's (``/v1/jobs/X[/result]``)."""
    parts = path.removeprefix("/v1/jobs/").split("/")
    shaped = len(parts) == 1 or (len(parts) == 2 and parts[1] in ("cancel", "result", "events"))
    return parts[0] if path.startswith("/v1/jobs/") and parts[0] and shaped else None


def _internal(request: web.Request, exc: Exception) -> web.Response:
    rid = request_id(request)
    API_LOG.error(
        line("bug", request_id=rid, method=request.method, path=request.path, error=repr(exc)),
        exc_info=exc,
    )
    return error_response(500, "InternalError", f"internal error (request id {rid})")


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn every failure below into a JSON error response with the right status."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return _from_aiohttp(request, exc)
    except HttpProblem as exc:
        return error_response(exc.status, exc.type, exc.message)
    except ConnectionResetError:
        # aiohttp's ClientConnectionResetError too: the request's body ended with its
        # connection.
        return _client_gone(request)
    except FanoutError as exc:
        response = _from_service(exc)
        if response.status >= 500:
            API_LOG.error(line("failed", request_id=request_id(request), error=repr(exc)))
        return response
    except Exception as exc:
        return _internal(request, exc)
