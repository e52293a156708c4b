"""Raw HTTP against a test daemon, to see statuses and headers the client turns into errors;
and a body that stalls until released, to hold an upload job running for as long as needed."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final

import aiohttp
import anyio
import msgspec
from anyio.abc import TaskGroup
from multidict import CIMultiDictProxy

from service.client import Client
from service.jobs.model import Job

__all__ = [
    "LONG_LIFE",
    "OCTETS",
    "Reply",
    "Stalled",
    "eventually",
    "in_background",
    "request",
    "upload",
]

LONG_LIFE: Final[dict[str, Any]] = {
    # Minutes of work: long enough to be running whenever a test looks, and cancelled promptly.
    "random": "256x256:0.3:1",
    "generations": 1_000_000,
    "topology": "torus",
    "engine": "numpy",
}
OCTETS: Final = {"Content-Type": "application/octet-stream", "X-Fanout-Password": "pw"}
"""The headers of a raw encrypt or decrypt upload, with the password ``pw``."""


@dataclass(frozen=True)
class Reply:
    status: int
    headers: CIMultiDictProxy[str]
    body: bytes

    def json(self) -> Any:
        return msgspec.json.decode(self.body)

    def error(self) -> dict[str, Any]:
        error: dict[str, Any] = self.json()["error"]
        return error

    def job(self) -> Job:
        return msgspec.json.decode(self.body, type=Job)


async def request(client: Client, method: str, path: str, **options: Any) -> Reply:
    """One request to the client's daemon, outside the client: whatever comes back."""
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, client.base_url + path, **options) as response,
    ):
        return Reply(response.status, response.headers, await response.read())


async def upload(client: Client, kind: str, body: Any, **options: Any) -> Reply:
    """``POST /v1/jobs/{kind}`` with a raw body (bytes or chunks) and :data:`OCTETS` headers."""
    headers = {**OCTETS, **options.pop("headers", {})}
    if isinstance(body, bytes):
        body = io.BytesIO(body)  # aiohttp warns about big bytes bodies
    return await request(client, "POST", f"/v1/jobs/{kind}", data=body, headers=headers, **options)


def in_background(
    group: TaskGroup, call: Callable[[], Awaitable[Reply]]
) -> Callable[[], Reply | None]:
    """Start ``call``; the returned function gives its reply once there is one."""
    replies: list[Reply] = []

    async def run() -> None:
        replies.append(await call())

    group.start_soon(run)
    return lambda: replies[0] if replies else None


class Stalled:
    """An upload body: ``first``, then nothing until ``release()``, then ``rest``."""

    def __init__(self, first: bytes, rest: bytes = b"") -> None:
        self.first = first
        self.rest = rest
        self._go = anyio.Event()

    def release(self) -> None:
        self._go.set()

    async def chunks(self) -> AsyncIterator[bytes]:
        yield self.first
        await self._go.wait()
        if self.rest:
            yield self.rest


async def eventually(check: Callable[[], Awaitable[bool]], *, within_s: float = 30.0) -> None:
    """Poll ``check`` until it holds; fail after ``within_s`` (a hang guard, not a timing)."""
    with anyio.fail_after(within_s):
        # Polling on purpose: the state looked at lives in the daemon, with no event to await.
        while not await check():  # noqa: ASYNC110  # polling: there is no event to wait on
            await anyio.sleep(0.02)
