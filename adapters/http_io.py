"""The download and upload edges of the image pipeline: aiohttp's client behind a small typed API.

- :class:`HttpClient` — one ``aiohttp.ClientSession`` for a run
  (``async with HttpClient(policy) as client``); :meth:`~HttpClient.download` fetches an
  http(s) URL (or, for the CLI, a local file) into a :class:`Downloaded`;
  :meth:`~HttpClient.upload` PUTs bytes and returns the status.
- :class:`Policy` — what may be fetched, and how much: a host allowlist, the private-address
  rule, local files on or off, body size, redirects, timeouts, content types, connections.

The daemon takes URLs from untrusted clients, so requests are guarded against SSRF: redirects
are followed by hand and every hop is checked like the first URL; with ``allow_private`` off,
loopback, private, link-local and other non-global addresses are refused where aiohttp
connects - on the addresses a name resolves to (so DNS rebinding does not help) and on each
socket's address - as well as for IP literals before any request.

This module runs on asyncio only (aiohttp does); anyio code reaches it on the asyncio backend.
Errors are this module's own (adapters import nothing from ``service``, which maps them);
aiohttp's, asyncio's and the OS's exceptions never reach the caller unmapped::

    HttpError           a download or upload failed; ``transient`` says whether to try again,
    │                   ``status`` is the HTTP status when one caused it, ``url`` the URL given
    └── Refused         the policy forbids the URL, a redirect hop or its address
"""

from __future__ import annotations

from adapters._http.client import HttpClient
from adapters._http.downloaded import Downloaded
from adapters._http.errors import HttpError, Refused
from adapters._http.policy import Policy

__all__ = ["Downloaded", "HttpClient", "HttpError", "Policy", "Refused"]
