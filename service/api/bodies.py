"""Request bodies in, JSON out: content types, size limits, and decoding errors that help.

JSON bodies are small (``JSON_LIMIT``; aiohttp refuses more with 413 before they are read
whole). Decoding failures name the problem: malformed JSON says where (bytes that are not
UTF-8 and arrays nested past the decoder's depth are malformed too: 400, never a 500), a body
that is not an object says what it was, a wrong field says which (``field`` in the error body).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final, TypeVar

import msgspec
from aiohttp import web

from service.api.problems import HttpProblem
from service.errors import BadParam, InvalidInput

__all__ = ["JSON_LIMIT", "json_response", "query_value", "read_json", "require_content_type"]

JSON_LIMIT: Final = 2 * 1024 * 1024
"""The largest JSON request body, in bytes (base64 payloads of small crypto jobs fit)."""

T = TypeVar("T")
_ENCODER: Final = msgspec.json.Encoder()
_WHERE: Final = re.compile(r" - at `\$\.?(?P<path>[^`]*)`$")


def json_response(
    value: object, *, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    """``value`` (a Struct, or anything msgspec encodes) as an ``application/json`` response."""
    return web.Response(
        body=_ENCODER.encode(value),
        status=status,
        content_type="application/json",
        headers=headers,
    )


def require_content_type(request: web.Request, expected: str) -> None:
    """415 unless the body is declared as ``expected`` (parameters like charset aside)."""
    if request.content_type != expected:
        given = request.headers.get("Content-Type", "")
        shown = repr(given) if given else "none"
        raise HttpProblem(
            415,
            "UnsupportedMediaType",
            f"Content-Type {shown} is not accepted here: send {expected}",
        )


async def read_json(request: web.Request, model: type[T], *, what: str) -> T:
    """The body decoded as ``model``; ``what`` describes the expected body for messages."""
    if not request.body_exists:
        raise InvalidInput(f"the request has no body: send {what}")
    require_content_type(request, "application/json")
    data = await request.read()
    try:
        return msgspec.json.decode(data, type=model)
    except msgspec.ValidationError as exc:
        raise _invalid(str(exc), what) from None
    except msgspec.DecodeError as exc:
        # msgspec 0.23 says "Invalid UTF-8 encoded string", without saying where.
        if "UTF-8" in str(exc):
            raise _not_utf8(data) from None
        raise InvalidInput(f"malformed JSON body: {exc}") from None
    except UnicodeDecodeError:
        # msgspec before 0.23 checks UTF-8 only as it makes a str, and lets Python's error out.
        raise _not_utf8(data) from None
    except RecursionError:
        # msgspec nests on the C stack, as deep as the interpreter's recursion limit allows.
        raise InvalidInput(
            "malformed JSON body: arrays and objects nest too deeply for the decoder: a "
            f"submission needs a few levels, not hundreds: send {what}"
        ) from None


def _not_utf8(data: bytes) -> InvalidInput:
    """Where the body stops being UTF-8 (msgspec's error counts from the start of a string)."""
    where = "a string"
    try:
        data.decode()
    except UnicodeDecodeError as exc:
        where = f"byte {exc.start} (0x{data[exc.start]:02x})"
    return InvalidInput(f"malformed JSON body: {where} is not UTF-8: JSON text must be UTF-8")


def _invalid(message: str, what: str) -> InvalidInput:
    """A ValidationError as BadParam naming its field, or as "not an object" at the root."""
    found = _WHERE.search(message)
    if found is None:
        if message.startswith("Expected `object`"):
            got = message.rpartition("got ")[2].strip("`")
            return InvalidInput(f"the body must be {what}, got a JSON {got}")
        return BadParam(f"{message}: the body must be {what}", field=_named_field(message))
    # "params[...]" is msgspec's "some value of the params object": name the object itself.
    field, inside, _ = found["path"].partition("[...]")
    problem = message[: found.start()]
    if problem == "Number out of range":
        problem += ": JSON numbers must be finite and within a 64-bit float's range (1.8e308)"
    where = f"{field} (in one of its values)" if inside else field
    return BadParam(f"{where}: {problem}", field=field)


def _named_field(message: str) -> str | None:
    # "Object missing required field `kind`", "Object contains unknown field `x`"
    quoted = re.search(r"field `([^`]*)`", message)
    return quoted[1] if quoted else None


def query_value(query: Mapping[str, str], name: str, kind: type[Any]) -> Any:
    """A query parameter converted to ``kind`` (strings to numbers), BadParam if it cannot be."""
    try:
        return msgspec.convert(query[name], type=kind, strict=False)
    except msgspec.ValidationError as exc:
        raise BadParam(f"query parameter {name}={query[name]!r}: {exc}", field=name) from None
