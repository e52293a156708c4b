"""The ``JobContext`` a running job gets: its job, settings, secret, payload, artifact place.

``progress`` only records the latest figures (one attribute store of an immutable value, safe
from any thread: a kind may report from its worker threads); the manager samples them about
ten times a second, publishes what changed and stores it about once a second, so a kind may
call it as often as it likes.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterable, Callable
from pathlib import Path
from typing import TypeVar, final

from adapters.processes import AsyncProcessPool, TaskFailed, WorkerCrashed
from service.config import Settings
from service.crypto import Password
from service.errors import PayloadTooLarge
from service.jobs.artifacts import Artifacts
from service.jobs.kind import WorkerFailed
from service.jobs.model import Job, JobProgress

__all__ = ["ProcessWorkers", "RunContext", "bounded"]

T = TypeVar("T")
R = TypeVar("R")


@final
class RunContext:
    """A ``JobContext`` for one run of one job."""

    __slots__ = (
        "_artifacts",
        "_job",
        "_payload",
        "_processes",
        "_request",
        "_secret",
        "_settings",
        "latest",
    )

    def __init__(
        self,
        job: Job,
        settings: Settings,
        artifacts: Artifacts,
        *,
        secret: Password | None = None,
        request: object | None = None,
        payload: AsyncIterable[bytes] | None = None,
        processes: ProcessWorkers | None = None,
    ) -> None:
        self._job = job
        self._request = request
        self._processes = processes
        self._settings = settings
        self._artifacts = artifacts
        self._secret = secret
        self._payload = payload
        self.latest: JobProgress = job.progress

    def __repr__(self) -> str:
        # Never the secret: reprs end up in logs and tracebacks.
        return f"<RunContext job={self._job.id} kind={self._job.kind}>"

    @property
    def job(self) -> Job:
        return self._job

    @property
    def settings(self) -> Settings:
        return self._settings

    @property
    def secret(self) -> Password | None:
        return self._secret

    @property
    def request(self) -> object | None:
        return self._request

    @property
    def payload(self) -> AsyncIterable[bytes] | None:
        return self._payload

    @property
    def processes(self) -> ProcessWorkers | None:
        return self._processes

    def artifact_path(self, suffix: str) -> Path:
        return self._artifacts.path_for(self._job.id, suffix)

    def progress(self, done: int, total: int) -> None:
        # int() turns numpy integers into ones msgspec can encode.
        self.latest = JobProgress(int(done), int(total))


@final
class ProcessWorkers:
    """The manager's worker processes as kinds see them (``Workers``): the adapter's pool,
    with its failures turned into ``WorkerFailed``."""

    __slots__ = ("_pool",)

    def __init__(self, pool: AsyncProcessPool) -> None:
        self._pool = pool

    def __repr__(self) -> str:
        return f"<ProcessWorkers {self._pool!r}>"

    @property
    def pids(self) -> tuple[int, ...]:
        return self._pool.pids

    async def run(self, function: Callable[[T], R], argument: T, /) -> R:
        try:
            return await self._pool.run(function, argument)
        except WorkerCrashed as exc:
            raise WorkerFailed(f"the worker process died: {exc}") from exc
        except TaskFailed as exc:  # an exception that could not travel back as itself
            raise WorkerFailed(f"the work failed in a worker process: {exc}") from exc

    async def aclose(self) -> None:
        await self._pool.aclose()


async def bounded(payload: AsyncIterable[bytes], limit: int) -> AsyncGenerator[bytes, None]:
    """``payload`` as it streams, raising PayloadTooLarge once it goes past ``limit`` bytes.

    The payload is closed (if it can be) when this generator is, so an async generator given
    as a payload and left half read is finalised in its task, not later by the collector.
    """
    seen = 0
    try:
        async for chunk in payload:
            seen += len(chunk)
            if seen > limit:
                raise PayloadTooLarge(
                    f"the request body is larger than the limit of {limit} bytes "
                    "([crypto] max_payload_bytes)"
                )
            yield chunk
    finally:
        close = getattr(payload, "aclose", None)
        if close is not None:
            await close()
