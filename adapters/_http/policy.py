"""What a client may fetch and send: :class:`Policy`, and the check every URL hop must pass.

:func:`check_target` runs before each request, the first and every redirect hop alike: the
scheme must be http or https, the host must match ``allow_hosts`` (when it is not empty),
and an IP-literal host must be public while ``allow_private`` is off. Names are checked on
the addresses they resolve to, when aiohttp connects (:mod:`.addresses`).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Final, final

from yarl import URL

from adapters._http.addresses import forbidden_kind
from adapters._http.errors import Refused

__all__ = ["WEB_SCHEMES", "Policy", "check_target"]

WEB_SCHEMES: Final = ("http", "https")
_LABELS: Final = re.compile(r"[a-z0-9_-]+(?:\.[a-z0-9_-]+)*")
_PATTERN_HELP: Final = (
    "use a lowercase host name such as 'images.example.com', "
    "a suffix pattern such as '*.example.com', or an IP address"
)


@final
@dataclass(frozen=True, slots=True)
class Policy:
    """Limits for one client; the defaults suit the CLI, the daemon turns the rules on.

    ``allow_hosts`` holds exact host names (lowercase, ASCII: IDNs in their ``xn--`` form)
    or ``"*.example.com"`` patterns, which match any name under ``example.com`` but not
    ``example.com`` itself; empty means any host. ``allow_private=False`` refuses loopback,
    private, link-local, multicast, reserved, unspecified and other non-global addresses,
    checked on the addresses actually connected to. ``read_timeout_s`` bounds each wait for
    data, not the whole transfer. ``content_types`` are prefixes a download's Content-Type
    must start with (``()``: any). ``connections_per_host`` 0 means no per-host limit.
    """

    allow_hosts: frozenset[str] = frozenset()
    allow_private: bool = True
    allow_files: bool = True
    max_bytes: int = 50 * 1024 * 1024
    max_redirects: int = 5
    connect_timeout_s: float = 10.0
    read_timeout_s: float = 30.0
    content_types: tuple[str, ...] = ("image/",)
    connections: int = 32
    connections_per_host: int = 8

    def __post_init__(self) -> None:
        for pattern in self.allow_hosts:
            _check_pattern(pattern)
        _at_least("max_bytes", self.max_bytes, 1)
        _at_least("max_redirects", self.max_redirects, 0)
        _at_least("connections", self.connections, 1)
        _at_least("connections_per_host", self.connections_per_host, 0)
        for name in ("connect_timeout_s", "read_timeout_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} {getattr(self, name)!r}: must be a positive number")
        for prefix in self.content_types:
            if not prefix or prefix != prefix.lower():
                raise ValueError(
                    f"content type {prefix!r}: use a lowercase prefix such as 'image/'"
                )

    def host_allowed(self, host: str) -> bool:
        """Whether ``host`` (as in a URL) matches ``allow_hosts``; any host when it is empty."""
        if not self.allow_hosts:
            return True
        name = host.lower().removesuffix(".")
        if name in self.allow_hosts:
            return True
        return any(
            name.endswith(pattern[1:]) for pattern in self.allow_hosts if pattern[:2] == "*."
        )


def check_target(url: URL, policy: Policy, *, where: str, given: str) -> None:
    """Raise :class:`Refused` unless ``url`` may be requested under ``policy``.

    ``where`` names the hop in messages; ``given`` is the URL the caller asked for.
    """
    if url.scheme not in WEB_SCHEMES:
        raise Refused(
            f"scheme {url.scheme!r} of {where} is not allowed: use http or https", url=given
        )
    host = url.raw_host
    if not host:
        raise Refused(f"{where} has no host: use http://host/path", url=given)
    if not policy.host_allowed(host):
        allowed = ", ".join(sorted(policy.allow_hosts))
        raise Refused(
            f"host {host!r} of {where} is not allowed: allow_hosts is {allowed}", url=given
        )
    if not policy.allow_private and (kind := _literal_kind(host)) is not None:
        raise Refused(f"address {host} of {where} is {kind}: allow_private is off", url=given)


def _literal_kind(host: str) -> str | None:
    # aiohttp connects to IP literals without asking the resolver, so they are judged here
    # (and again by the socket factory); names are left to the resolver.
    try:
        return forbidden_kind(host)
    except ValueError:
        return None


def _check_pattern(pattern: str) -> None:
    if pattern.startswith("*."):
        valid = _LABELS.fullmatch(pattern[2:]) is not None
    else:
        valid = _LABELS.fullmatch(pattern) is not None or _is_ip(pattern)
    if not valid:
        raise ValueError(f"allow_hosts entry {pattern!r}: {_PATTERN_HELP}")


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _at_least(name: str, value: int, least: int) -> None:
    if value < least:
        raise ValueError(f"{name} {value!r}: must be at least {least}")
