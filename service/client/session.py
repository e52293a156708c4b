"""A small typed async client of the daemon's HTTP API (asyncio, on aiohttp's client).

::

    async with Client("http://127.0.0.1:8080", token=token) as client:
        job = await client.submit("life", {"pattern": "glider.rle", "generations": 100})
        job = await client.wait(job.id)
        rle = await client.result(job.id)

Every call returns ``Job`` values (the same Struct the daemon keeps) and raises the
``service.errors`` class the daemon answered with (see ``service.client.errors``); a daemon
that cannot be reached raises ``FanoutError`` naming the URL.
"""

from __future__ import annotations

import builtins
import io
import os
from collections.abc import AsyncIterable, AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Literal, final

import aiohttp
import anyio
import msgspec

from service.client.errors import error_from
from service.client.events import read_events
from service.errors import FanoutError, TimedOut
from service.jobs.model import Job, JobState
from service.system.files import atomic_writer

__all__ = ["Client", "JobPage"]

_PASSWORD: Final = "X-Fanout-Password"
_CHUNK: Final = 256 * 1024
_JOB: Final = msgspec.json.Decoder(Job)


@final
@dataclass(frozen=True, slots=True)
class JobPage:
    """One page of jobs, newest first; ``next`` is the cursor of the following page."""

    jobs: builtins.list[Job]
    next: str | None


class _Page(msgspec.Struct, frozen=True):
    jobs: builtins.list[Job]
    next: str | None = None


@final
class Client:
    """The daemon at ``base_url`` (``http://host:port``); use it in ``async with``."""

    __slots__ = ("_base", "_connect_s", "_headers", "_session")

    def __init__(self, base_url: str, *, token: str | None = None, connect_s: float = 10.0):
        self._base = base_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._connect_s = connect_s
        self._session: aiohttp.ClientSession | None = None

    def __repr__(self) -> str:
        return f"<Client {self._base}>"

    @property
    def base_url(self) -> str:
        return self._base

    async def __aenter__(self) -> Client:
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=self._connect_s)
        self._session = aiohttp.ClientSession(headers=self._headers, timeout=timeout)
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def submit(
        self, kind: str, params: Mapping[str, Any], *, password: str | None = None
    ) -> Job:
        """Submit a job (queued); ``password`` for the kinds that take one."""
        headers = {_PASSWORD: password} if password is not None else {}
        body = {"kind": kind, "params": dict(params)}
        return _JOB.decode(await self._call("POST", "/v1/jobs", json=body, headers=headers))

    async def get(self, job_id: str) -> Job:
        return _JOB.decode(await self._call("GET", f"/v1/jobs/{job_id}"))

    async def list(
        self,
        *,
        status: JobState | str | None = None,
        kind: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> JobPage:
        """One page of jobs, newest first, filtered by ``status`` and ``kind``."""
        query = {"status": status, "kind": kind, "limit": limit, "cursor": cursor}
        params = {key: str(value) for key, value in query.items() if value is not None}
        page = msgspec.json.decode(await self._call("GET", "/v1/jobs", params=params), type=_Page)
        return JobPage(page.jobs, page.next)

    async def cancel(self, job_id: str) -> Job:
        """Cancel a queued or running job; Conflict if it has ended."""
        return _JOB.decode(await self._call("POST", f"/v1/jobs/{job_id}/cancel"))

    async def events(self, job_id: str) -> AsyncIterator[Job]:
        """The job's snapshots as the daemon sends them, until the terminal one."""
        async with self._request("GET", f"/v1/jobs/{job_id}/events") as response:
            async for event in read_events(response.content.iter_any()):
                if event.name == "job":
                    yield _JOB.decode(event.data)

    async def wait(self, job_id: str, *, timeout_s: float | None = None) -> Job:
        """The job once it has ended; TimedOut after ``timeout_s`` (the job goes on)."""
        try:
            with anyio.fail_after(timeout_s):
                return await self._until_ended(job_id)
        except TimeoutError:
            raise TimedOut(f"job {job_id} did not end within {timeout_s} s") from None

    async def _until_ended(self, job_id: str) -> Job:
        while True:
            async for job in self.events(job_id):
                if job.finished:
                    return job
            # The stream ended early (the daemon restarted, a proxy cut it): look, and go on.
            job = await self.get(job_id)
            if job.finished:
                return job
            await anyio.sleep(0.5)

    async def result(self, job_id: str) -> bytes:
        """The job's artifact, whole in memory (see ``save_result`` for big ones)."""
        return b"".join([chunk async for chunk in self.result_chunks(job_id)])

    async def result_chunks(self, job_id: str) -> AsyncIterator[bytes]:
        """The job's artifact as it streams in; Conflict if the job has not ended."""
        async with self._request("GET", f"/v1/jobs/{job_id}/result") as response:
            async for chunk in response.content.iter_chunked(_CHUNK):
                yield chunk

    async def save_result(self, job_id: str, path: str | os.PathLike[str]) -> int:
        """Stream the job's artifact into ``path``, atomically (a partial file beside it,
        renamed into place once complete, removed on any error or cancellation); the byte
        count. InvalidInput ``cannot write ...`` for a path that cannot be a file."""
        written = 0
        async with atomic_writer(path, sync=False) as write:
            async for chunk in self.result_chunks(job_id):
                await write(chunk)
                written += len(chunk)
        return written

    async def upload(
        self,
        kind: Literal["encrypt", "decrypt"],
        data: bytes | str | os.PathLike[str] | AsyncIterable[bytes],
        *,
        password: str,
        options: Mapping[str, str | int] | None = None,
    ) -> Job:
        """Stream ``data`` (bytes, a file path, or chunks) into an encrypt or decrypt job.

        ``options`` are the job's parameters as query values (``cipher``, ``iterations``...).
        Returns the finished job: succeeded, or failed with its error (a wrong password, a
        corrupted ciphertext); a fault of the request itself (a body past the limit, an unknown
        or legacy cipher) raises its error, as a submission does.
        """
        params = {key: str(value) for key, value in (options or {}).items()}
        headers = {_PASSWORD: password, "Content-Type": "application/octet-stream"}
        body: Any = data
        if isinstance(data, str | os.PathLike):
            body = _file_chunks(Path(data))
        elif isinstance(data, bytes):
            # aiohttp sends raw bytes in one write from the loop; a file object in pieces.
            body = io.BytesIO(data)
        reply = await self._call(
            "POST", f"/v1/jobs/{kind}", data=body, headers=headers, params=params
        )
        return _JOB.decode(reply)

    async def health(self) -> dict[str, Any]:
        found: dict[str, Any] = msgspec.json.decode(await self._call("GET", "/healthz"))
        return found

    async def metrics(self) -> str:
        return (await self._call("GET", "/metrics")).decode()

    async def openapi(self) -> dict[str, Any]:
        found: dict[str, Any] = msgspec.json.decode(await self._call("GET", "/openapi.json"))
        return found

    async def _call(self, method: str, path: str, **options: Any) -> bytes:
        async with self._request(method, path, **options) as response:
            return await response.read()

    @asynccontextmanager
    async def _request(
        self, method: str, path: str, **options: Any
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        if self._session is None:
            raise RuntimeError("use the Client in 'async with Client(...) as client'")
        try:
            async with self._session.request(method, self._base + path, **options) as response:
                if response.status >= 400:
                    body = await response.read()
                    raise error_from(response.status, body, response.headers.get("Retry-After"))
                yield response
        except aiohttp.ClientError as exc:
            raise FanoutError(f"cannot reach the fanout daemon at {self._base}: {exc}") from exc


async def _file_chunks(path: Path) -> AsyncIterator[bytes]:
    try:
        file = await anyio.open_file(path, "rb")
    except OSError as exc:
        raise FanoutError(f"cannot read {str(path)!r}: {exc.strerror or exc}") from exc
    async with file:
        while chunk := await file.read(_CHUNK):
            yield chunk
