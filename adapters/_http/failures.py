"""aiohttp's, asyncio's and the OS's errors, mapped onto :class:`HttpError` at the boundary.

=========================================  =============================================
what went wrong                            what the caller gets
=========================================  =============================================
a private address, allow_private off       ``Refused``
connection refused, reset, lost; truncated  transient
DNS: temporary failure                     transient
DNS: no such name (``EAI_NONAME``)         permanent
timed out connecting or reading            transient (the message says which, and the limit)
TLS certificate or handshake failure       permanent
invalid URL, malformed response            permanent
=========================================  =============================================
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager

import aiohttp

from adapters._http.addresses import PrivateAddress
from adapters._http.errors import HttpError, Refused
from adapters._http.policy import Policy

__all__ = ["mapped_errors"]


@contextmanager
def mapped_errors(*, where: str, given: str, policy: Policy) -> Iterator[None]:
    """Turn aiohttp and OS errors raised inside into :class:`HttpError` (``raise ... from``).

    ``where`` names the hop in messages; ``given``, the URL the caller asked for, becomes the
    error's ``url``. Errors that already are :class:`HttpError` pass through.
    """
    try:
        yield
    except (aiohttp.ClientError, OSError) as exc:
        raise _translate(exc, where=where, given=given, policy=policy) from exc


def _translate(exc: Exception, *, where: str, given: str, policy: Policy) -> HttpError:
    cause = exc.os_error if isinstance(exc, aiohttp.ClientConnectorError) else exc
    if isinstance(cause, PrivateAddress):
        return Refused(f"{cause.strerror} ({where}): allow_private is off", url=given)
    if isinstance(exc, aiohttp.ClientConnectorError):
        return _connect_failure(exc, exc.os_error, where=where, given=given)
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        limit = policy.connect_timeout_s
        message = f"timed out connecting to {where} (connect_timeout_s is {limit})"
        return HttpError(message, url=given, transient=True)
    if isinstance(exc, TimeoutError):
        # aiohttp's read timeout (SocketTimeoutError) is a TimeoutError too.
        limit = policy.read_timeout_s
        message = f"timed out reading from {where}: no data for {limit} s (read_timeout_s)"
        return HttpError(message, url=given, transient=True)
    if isinstance(exc, aiohttp.InvalidURL):
        return HttpError(f"invalid URL {where}: {exc}", url=given, transient=False)
    if isinstance(exc, aiohttp.ClientResponseError):
        message = f"malformed response from {where}: {exc.message}"
        return HttpError(message, url=given, transient=False)
    # Server disconnected, connection reset, a body cut short: the next attempt may succeed.
    return HttpError(f"connection to {where} lost: {_reason(exc)}", url=given, transient=True)


def _connect_failure(
    exc: aiohttp.ClientConnectorError, cause: OSError, *, where: str, given: str
) -> HttpError:
    reason = _reason(cause)
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        message = f"TLS certificate of {where} rejected: {exc.certificate_error}"
        return HttpError(message, url=given, transient=False)
    if isinstance(exc, aiohttp.ClientSSLError):
        return HttpError(f"TLS handshake with {where} failed: {reason}", url=given, transient=False)
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        # A name that does not exist will not exist in a second either; a resolver that is
        # down or slow (EAI_AGAIN and friends) may answer next time.
        missing = cause.errno == socket.EAI_NONAME
        message = f"cannot resolve host {exc.host!r} of {where}: {reason}"
        return HttpError(message, url=given, transient=not missing)
    return HttpError(f"cannot connect to {where}: {reason}", url=given, transient=True)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__
