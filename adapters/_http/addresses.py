"""The private-address rule, enforced where connections are made rather than on host names.

A name says nothing about where it leads: ``images.example.com`` may resolve to ``127.0.0.1``
today (DNS rebinding), and a redirect may point anywhere. So with ``allow_private`` off the
rule is checked on addresses, twice, inside aiohttp's own connection path:

- :class:`GuardedResolver` resolves a name (``getaddrinfo`` on a thread) and drops every
  address the rule forbids; a name left with none fails with :class:`PrivateAddress`. The
  connector caches only what passed, and connects only to what the resolver returned.
- :func:`guarded_socket` is the connector's socket factory: it sees the very address each
  socket is about to connect to, including IP literals, which aiohttp never sends through a
  resolver. It is the last word; the resolver gives the earlier, clearer error.

:class:`PrivateAddress` is an ``OSError`` so that aiohttp wraps it like any other failure to
connect (``ClientConnectorError.os_error``); the error mapping unwraps it into ``Refused``.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import socket
from typing import Final, final

from aiohappyeyeballs import AddrInfoType
from aiohttp import ThreadedResolver
from aiohttp.abc import AbstractResolver, ResolveResult

__all__ = ["GuardedResolver", "PrivateAddress", "forbidden_kind", "guarded_socket"]

# Checked in this order, so an address is named by its most specific kind.
_KINDS: Final = ("unspecified", "loopback", "link_local", "multicast", "private", "reserved")


class PrivateAddress(PermissionError):
    """Raised when a connection would reach an address that ``allow_private=False`` forbids."""

    def __init__(self, host: str, address: str, kind: str) -> None:
        if host == address:
            what = f"address {address} is {kind}"
        else:
            what = f"host {host!r} resolves to {kind} address {address}"
        super().__init__(errno.EACCES, what)
        self.host = host
        self.address = address
        self.kind = kind


def forbidden_kind(address: str) -> str | None:
    """Why ``address`` is private (``"loopback"``, ``"link-local"``...), or None if it is public.

    Raises ValueError when ``address`` is not an IP address. IPv6 forms that carry an IPv4
    address (IPv4-mapped ``::ffff:a.b.c.d``, 6to4 ``2002::/16``) are judged by that address.
    """
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address):
        ip = ip.ipv4_mapped or ip.sixtofour or ip
    for kind in _KINDS:
        if getattr(ip, f"is_{kind}"):
            return kind.replace("_", "-")
    # Shared (100.64.0.0/10), benchmarking, documentation... ranges are none of the above.
    return None if ip.is_global else "non-global"


def guarded_socket(addr_info: AddrInfoType) -> socket.socket:
    """A socket for ``addr_info``, unless its address is private (:class:`PrivateAddress`)."""
    family, kind_of_socket, proto, _, sockaddr = addr_info
    address = str(sockaddr[0])
    kind = forbidden_kind(address)
    if kind is not None:
        raise PrivateAddress(address, address, kind)
    return socket.socket(family=family, type=kind_of_socket, proto=proto)


@final
class GuardedResolver(AbstractResolver):
    """aiohttp's threaded resolver, bounded in time, keeping only addresses the rule allows."""

    __slots__ = ("_allow_private", "_inner", "_timeout_s")

    def __init__(self, *, allow_private: bool, timeout_s: float) -> None:
        self._inner = ThreadedResolver()
        self._allow_private = allow_private
        # aiohttp's connect timeout also counts the wait for a free pooled connection, which
        # is backpressure rather than failure; so only the socket connect is bounded there,
        # and the lookup is bounded here.
        self._timeout_s = timeout_s

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        async with asyncio.timeout(self._timeout_s):
            found = await self._inner.resolve(host, port, family)
        if self._allow_private:
            return found
        kept = [result for result in found if forbidden_kind(result["host"]) is None]
        if not kept and found:
            first = found[0]["host"]
            raise PrivateAddress(host, first, forbidden_kind(first) or "private")
        return kept

    async def close(self) -> None:
        await self._inner.close()
