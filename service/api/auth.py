"""The API's bearer token: where it comes from, and the middleware that demands it.

The token is ``FANOUT_TOKEN`` when that is set, else the first line of ``[http] token_file``;
with neither, the API is open (and the daemon then refuses to listen beyond loopback). With a
token, every ``/v1`` route and ``/metrics`` (which reveals job counts by kind) require
``Authorization: Bearer <token>`` (the scheme in any case, one space, the token exactly);
``/healthz`` and ``/openapi.json`` stay open for probes and tooling. Tokens are compared in
constant time, and no refusal quotes the header back.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from service.config import HttpSettings
from service.errors import ConfigError, Unauthorized
from service.system.environment import TOKEN_VARIABLE, secret

__all__ = ["TOKEN_VARIABLE", "auth_middleware", "is_protected", "load_token"]

_PROTECTED: Final = ("/v1/", "/metrics")


def load_token(settings: HttpSettings, environ: Mapping[str, str] | None = None) -> str | None:
    """The configured token, or None; ConfigError when the token file cannot give one.

    ``environ`` defaults to the secrets taken out of the process environment at start-up.
    """
    token = (secret(TOKEN_VARIABLE) if environ is None else environ.get(TOKEN_VARIABLE)) or ""
    token = token.strip()
    if token:
        return token
    if not settings.token_file:
        return None
    path = Path(settings.token_file)
    try:
        first = path.read_text(encoding="utf-8").partition("\n")[0].strip()
    except OSError as exc:
        raise ConfigError(
            f"[http] token_file {str(path)!r}: cannot read it: {exc.strerror or exc}"
        ) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"[http] token_file {str(path)!r}: not UTF-8 text") from exc
    if not first:
        raise ConfigError(f"[http] token_file {str(path)!r}: its first line is empty")
    return first


def is_protected(path: str) -> bool:
    """Whether ``path`` needs the token (when one is set)."""
    return path == "/v1" or path.startswith(_PROTECTED)


def auth_middleware(token: str) -> Middleware:
    """A middleware refusing protected paths without ``Authorization: Bearer <token>``."""
    expected = token.encode("utf-8", "surrogateescape")  # as _check reads the header

    @web.middleware
    async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
        if is_protected(request.path):
            _check(request.headers.get("Authorization", ""), expected)
        return await handler(request)

    return check


def _check(header: str, expected: bytes) -> None:
    # Nothing of the header is quoted back: whatever follows the scheme may be a credential.
    scheme, _, given = header.partition(" ")
    if not header:
        raise Unauthorized("this API needs a token: send 'Authorization: Bearer <token>'")
    if scheme.lower() != "bearer":
        raise Unauthorized("unsupported authorization scheme: send 'Authorization: Bearer <token>'")
    if not given or given[0].isspace():
        raise Unauthorized("malformed Authorization header: send 'Bearer <token>', one space apart")
    # aiohttp decodes header bytes as UTF-8 with surrogateescape: this gives back the bytes sent.
    if not hmac.compare_digest(given.encode("utf-8", "surrogateescape"), expected):
        raise Unauthorized("wrong token")
