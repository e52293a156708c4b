"""The API's JSON error bodies turned back into ``service.errors`` exceptions, for the client.

The body's ``type`` names a class of ``service.errors``; its ``message`` becomes the message,
``field`` a ``BadParam``'s field, and ``Retry-After`` the wait of a ``TryLater`` (``Busy``,
``Draining``, ``StoreBusy``). A type this build does not know (or a body that is not ours: a
proxy's HTML page) falls back on the status: 400 InvalidInput, 401 Unauthorized, 404 NotFound,
409 Conflict, 413 PayloadTooLarge, 429 Busy, 503 Draining, anything else FanoutError.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import msgspec

from service import errors
from service.errors import BadParam, Busy, Draining, FanoutError, PatternError, TryLater

__all__ = ["error_from"]

_BY_STATUS: Final[Mapping[int, type[FanoutError]]] = {
    400: errors.InvalidInput,
    401: errors.Unauthorized,
    404: errors.NotFound,
    405: errors.InvalidInput,
    409: errors.Conflict,
    413: errors.PayloadTooLarge,
    415: errors.InvalidInput,
    429: Busy,
    503: Draining,
}


def error_from(status: int, body: bytes, retry_after: str | None) -> FanoutError:
    """The exception an error response stands for."""
    detail = _detail(body)
    message = str(detail.get("message") or f"HTTP {status}")
    cls = _class(str(detail.get("type", ""))) or _BY_STATUS.get(status, FanoutError)
    wait = _seconds(retry_after)
    if issubclass(cls, BadParam):
        field = detail.get("field")
        return cls(message, field=field if isinstance(field, str) else None)
    if issubclass(cls, TryLater):
        return cls(message, retry_after_s=wait)
    if issubclass(cls, PatternError):
        exc = cls(message)
        exc.args = (message,)  # the server's message already starts with FILE:LINE:COL
        return exc
    return cls(message)


def _detail(body: bytes) -> dict[str, Any]:
    try:
        decoded = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return {"message": body[:200].decode("utf-8", "replace").strip() or None}
    error = decoded.get("error") if isinstance(decoded, dict) else None
    return error if isinstance(error, dict) else {}


def _class(name: str) -> type[FanoutError] | None:
    found = getattr(errors, name, None) if name in errors.__all__ else None
    return found if isinstance(found, type) and issubclass(found, FanoutError) else None


def _seconds(header: str | None) -> int | None:
    try:
        return max(0, int(header)) if header else None
    except ValueError:
        return None
