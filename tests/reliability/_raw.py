"""HTTP/1.1 written by hand on a socket, for requests no client library sends.

A path or header with bytes that are not UTF-8, a control character in a header, a
``Content-Length`` that lies, a header name with a space before its colon: aiohttp's client
refuses to send most of these, so tests that need them write the request bytes themselves::

    reply = await exchange(client.base_url, b"GET", b"/v1/jobs/%ff", [(b"X-Request-Id", b"\\xff")])

Every request says ``Connection: close``, so the reply is whatever comes back until the server
closes; ``within_s`` guards against a server that never answers.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from contextlib import suppress
from typing import Final
from urllib.parse import urlsplit

import anyio
from anyio.abc import SocketStream
from multidict import CIMultiDict, CIMultiDictProxy

from tests.api._http import Reply

__all__ = ["Header", "exchange"]

Header = tuple[bytes, bytes]
_WITHIN_S: Final = 30.0


async def exchange(
    base_url: str,
    method: bytes,
    target: bytes,
    headers: Sequence[Header] = (),
    body: bytes | None = None,
    *,
    length: int | None = None,
    within_s: float = _WITHIN_S,
) -> Reply:
    """Send one request to the server at ``base_url``; ``length`` overrides the declared
    ``Content-Length`` (else it is the body's, when there is a body)."""
    where = urlsplit(base_url)
    assert where.hostname is not None
    assert where.port is not None
    declared = length if length is not None else (None if body is None else len(body))
    lines = [method + b" " + target + b" HTTP/1.1", b"Host: " + where.netloc.encode()]
    lines += [name + b": " + value for name, value in headers]
    if declared is not None:
        lines.append(b"Content-Length: " + str(declared).encode())
    lines.append(b"Connection: close")
    request = b"\r\n".join(lines) + b"\r\n\r\n" + (body or b"")
    with anyio.fail_after(within_s):
        async with await anyio.connect_tcp(where.hostname, where.port) as stream:
            # The server may answer (and close) before reading it all: then read the answer.
            with suppress(anyio.BrokenResourceError, OSError):
                await stream.send(request)
            return _parse(await _received(stream))


async def _received(stream: SocketStream) -> bytes:
    """The reply: until its ``Content-Length`` is in, else until the server closes.

    Not always until the close: after refusing a body it did not read (a declared length past
    a limit), aiohttp lingers, reading what the client may still send, for up to 10 s.
    """
    received = bytearray()
    # A reset after the answer: what came before it is the answer.
    with suppress(anyio.BrokenResourceError, OSError):
        async for chunk in stream:
            received += chunk
            if _complete(bytes(received)):
                break
    return bytes(received)


def _complete(data: bytes) -> bool:
    head, separator, body = data.partition(b"\r\n\r\n")
    if not separator:
        return False
    length = re.search(rb"(?im)^content-length:\s*(\d+)\s*$", head)
    return length is not None and len(body) >= int(length[1])


def _parse(data: bytes) -> Reply:
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = CIMultiDict[str]()  # values as Latin-1, as HTTP/1.1 reads them
    for header in header_lines:
        name, _, value = header.partition(":")
        headers.add(name.strip(), value.strip())
    return Reply(int(status_line.split()[1]), CIMultiDictProxy(headers), body)
