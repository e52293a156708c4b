""":class:`HttpClient`: one aiohttp session for a run, shared by every download and upload.

The session is built for untrusted URLs: the connector resolves through
:class:`GuardedResolver` (and, with ``allow_private`` off, opens sockets through
:func:`guarded_socket`); cookies are never kept, so one job's server cannot plant a cookie
another job's request would carry; and proxies from the environment are ignored, because
through a proxy the address checks would judge the proxy instead of the target.
"""

from __future__ import annotations

import asyncio
import re
from types import TracebackType
from typing import Final, Self, final
from urllib.parse import urlsplit

import aiohttp
import anyio

from adapters._http.addresses import GuardedResolver, guarded_socket
from adapters._http.downloaded import Downloaded
from adapters._http.errors import HttpError, Refused
from adapters._http.exchange import fetch, put
from adapters._http.files import read_local
from adapters._http.policy import WEB_SCHEMES, Policy

__all__ = ["HttpClient"]

_TOKEN: Final = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_MEDIA_TYPE: Final = re.compile(rf"{_TOKEN}/{_TOKEN}(?:\s*;[^\x00-\x1f\x7f]*)?")


@final
class HttpClient:
    """One aiohttp ClientSession for a run: `async with HttpClient(policy) as client:`."""

    __slots__ = ("_policy", "_resolver", "_session")

    def __init__(self, policy: Policy | None = None) -> None:
        self._policy = policy if policy is not None else Policy()
        self._session: aiohttp.ClientSession | None = None
        self._resolver: GuardedResolver | None = None

    @property
    def policy(self) -> Policy:
        """The limits this client enforces."""
        return self._policy

    def __repr__(self) -> str:
        state = "open" if self._session is not None else "closed"
        return f"<HttpClient {state} {self._policy!r}>"

    async def __aenter__(self) -> Self:
        _require_asyncio()
        if self._session is not None:
            raise RuntimeError("HttpClient is already open: enter it once per run")
        policy = self._policy
        self._resolver = GuardedResolver(
            allow_private=policy.allow_private, timeout_s=policy.connect_timeout_s
        )
        connector = aiohttp.TCPConnector(
            limit=policy.connections,
            limit_per_host=policy.connections_per_host,
            resolver=self._resolver,
            socket_factory=None if policy.allow_private else guarded_socket,
        )
        timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=policy.connect_timeout_s, sock_read=policy.read_timeout_s
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=timeout,
            cookie_jar=aiohttp.DummyCookieJar(),
            trust_env=False,
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        session, resolver = self._session, self._resolver
        self._session = self._resolver = None
        # Shielded: a cancelled run must still close its sockets, or aiohttp warns about an
        # unclosed session when the garbage collector finds it.
        with anyio.CancelScope(shield=True):
            if session is not None:
                await session.close()  # closes the connector it owns
            if resolver is not None:
                await resolver.close()  # aiohttp closes only resolvers it made itself

    async def download(self, source: str) -> Downloaded:
        """The body at ``source``: an http(s) URL, or (with ``allow_files``) a file URL or path.

        Raises :class:`Refused` when the policy forbids ``source`` or a redirect, and
        :class:`HttpError` for every other failure, ``transient`` when retrying may help.
        """
        scheme = _scheme(source)
        if scheme in WEB_SCHEMES:
            return await fetch(self._open(), self._policy, source)
        if scheme in ("", "file"):
            return await read_local(source, self._policy)
        schemes = "http, https, file or a plain path" if self._policy.allow_files else "http, https"
        raise Refused(f"scheme {scheme!r} of {source!r} is not allowed: use {schemes}", url=source)

    async def upload(self, url: str, data: bytes, *, content_type: str) -> int:
        """PUT ``data`` to ``url`` as ``content_type``; the 2xx status the server answered.

        Raises ValueError for a malformed ``content_type``, and :class:`Refused` /
        :class:`HttpError` as :meth:`download` does.
        """
        if not _MEDIA_TYPE.fullmatch(content_type):
            raise ValueError(f"content type {content_type!r}: use a media type such as 'image/png'")
        return await put(self._open(), self._policy, url, data, content_type)

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("HttpClient is not open: use `async with HttpClient(policy)`")
        return self._session


def _scheme(source: str) -> str:
    try:
        return urlsplit(source).scheme.lower()
    except ValueError as exc:
        raise HttpError(f"invalid URL {source!r}: {exc}", url=source, transient=False) from exc


def _require_asyncio() -> None:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        raise RuntimeError(
            "HttpClient needs the asyncio event loop (aiohttp runs on nothing else): "
            "run it under anyio's asyncio backend, not trio"
        ) from None
