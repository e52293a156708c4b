"""One download or upload over HTTP: redirects followed by hand, statuses judged, bodies bounded.

aiohttp could follow redirects itself, but then a hop would skip :func:`check_target`: a
public URL could answer ``302 Location: http://169.254.169.254/`` or ``file:///etc/passwd``.
So every request goes out with ``allow_redirects=False`` and each ``Location`` is resolved
against the hop that sent it, checked like the first URL, and counted against
``max_redirects``, which is what ends a redirect loop.

A download follows 301, 302, 303, 307 and 308 (all as GET); an upload only 307 and 308, the
redirects that keep the method and the body.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Final, TypeVar

import aiohttp
from yarl import URL

from adapters._http.downloaded import Downloaded
from adapters._http.errors import HttpError
from adapters._http.failures import mapped_errors
from adapters._http.policy import Policy, check_target

__all__ = ["fetch", "put"]

T = TypeVar("T")
Reader = Callable[[aiohttp.ClientResponse, str], Awaitable[T]]

_CHUNK: Final = 64 * 1024
_ANY_REDIRECT: Final = frozenset({301, 302, 303, 307, 308})
_KEEPS_METHOD: Final = frozenset({307, 308})
# Request Timeout, Too Early, Too Many Requests: the server asks to be asked again later.
_TRANSIENT_4XX: Final = frozenset({408, 425, 429})


async def fetch(session: aiohttp.ClientSession, policy: Policy, given: str) -> Downloaded:
    """GET ``given``; the body must be an allowed content type and at most ``max_bytes``."""

    async def read(response: aiohttp.ClientResponse, where: str) -> Downloaded:
        content_type = _checked_type(response, policy, where=where, given=given)
        data = await _bounded_body(response, policy.max_bytes, where=where, given=given)
        return Downloaded(data=data, content_type=content_type, url=str(response.url))

    return await _exchange(session, policy, "GET", given, read=read, follow=_ANY_REDIRECT)


async def put(
    session: aiohttp.ClientSession, policy: Policy, given: str, data: bytes, content_type: str
) -> int:
    """PUT ``data`` to ``given`` as ``content_type``; the (2xx) status the server answered."""

    async def status(response: aiohttp.ClientResponse, where: str) -> int:
        return response.status

    headers = {"Content-Type": content_type}
    return await _exchange(
        session, policy, "PUT", given, read=status, follow=_KEEPS_METHOD, body=(data, headers)
    )


async def _exchange(
    session: aiohttp.ClientSession,
    policy: Policy,
    method: str,
    given: str,
    *,
    read: Reader[T],
    follow: frozenset[int],
    body: tuple[bytes, Mapping[str, str]] | None = None,
) -> T:
    data, headers = body if body is not None else (None, None)
    url = _parse(given, where=given, given=given)
    where = given
    for _ in range(policy.max_redirects + 1):
        check_target(url, policy, where=where, given=given)
        with mapped_errors(where=where, given=given, policy=policy):
            async with session.request(
                method, url, data=data, headers=headers, allow_redirects=False
            ) as response:
                target = _redirect(response, url, follow, where=where, given=given)
                if target is None:
                    _check_status(response, where=where, given=given)
                    return await read(response, where)
        url, where = target, f"{target} (redirected from {given})"
    hops = policy.max_redirects + 1
    message = f"too many redirects ({hops}) from {given}: max_redirects is {policy.max_redirects}"
    raise HttpError(message, url=given, transient=False)


def _parse(text: str, *, where: str, given: str) -> URL:
    try:
        return URL(text)
    except (ValueError, TypeError) as exc:
        raise HttpError(f"invalid URL {where}: {exc}", url=given, transient=False) from exc


def _redirect(
    response: aiohttp.ClientResponse, url: URL, follow: frozenset[int], *, where: str, given: str
) -> URL | None:
    status = response.status
    if not 300 <= status < 400:
        return None
    location = response.headers.get("Location")
    if status not in follow or not location:
        allowed = ", ".join(map(str, sorted(follow)))
        message = f"HTTP {status} from {where} (Location {location!r}): only {allowed} are followed"
        raise HttpError(message, url=given, transient=False, status=status)
    return url.join(_parse(location, where=f"{location!r} in a redirect from {where}", given=given))


def _check_status(response: aiohttp.ClientResponse, *, where: str, given: str) -> None:
    status = response.status
    if 200 <= status < 300:
        return
    transient = status >= 500 or status in _TRANSIENT_4XX
    reason = f" {response.reason}" if response.reason else ""
    message = f"HTTP {status}{reason} from {where}"
    raise HttpError(message, url=given, transient=transient, status=status)


def _checked_type(
    response: aiohttp.ClientResponse, policy: Policy, *, where: str, given: str
) -> str:
    content_type = response.content_type  # aiohttp's parse: lowercase, parameters dropped
    if not policy.content_types or content_type.startswith(policy.content_types):
        return content_type
    sent = repr(content_type) if "Content-Type" in response.headers else "missing"
    wanted = " or ".join(repr(prefix) for prefix in policy.content_types)
    message = f"not an image: content-type {sent} from {where}: expected one starting with {wanted}"
    raise HttpError(message, url=given, transient=False)


async def _bounded_body(
    response: aiohttp.ClientResponse, max_bytes: int, *, where: str, given: str
) -> bytes:
    # Content-Length refuses an honest large body before reading it; counting while reading
    # catches a chunked one, a lying one, and one that decompression makes large.
    declared = response.content_length
    if declared is not None and declared > max_bytes:
        raise _too_large(max_bytes, where=where, given=given)
    body = bytearray()
    async for chunk in response.content.iter_chunked(_CHUNK):
        body += chunk
        if len(body) > max_bytes:
            raise _too_large(max_bytes, where=where, given=given)
    return bytes(body)


def _too_large(max_bytes: int, *, where: str, given: str) -> HttpError:
    message = f"body larger than {max_bytes} bytes from {where} (max_bytes is {max_bytes})"
    return HttpError(message, url=given, transient=False)
