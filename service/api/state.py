"""What the application holds: typed ``web.AppKey``s, and the job service it fronts.

The app does not own the job manager's lifecycle (the daemon does: it opens the store, enters
the manager, serves, drains); it only calls the methods of :class:`JobService`, which
``service.jobs.manager.JobManager`` provides.
"""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterable, AsyncIterator, Mapping
from pathlib import Path
from typing import Any, Final, Protocol

from aiohttp import web

from service.api.metrics import Metrics
from service.config import Settings
from service.crypto import Password
from service.jobs.kind import Kind
from service.jobs.model import Job, JobState
from service.jobs.stats import JobStats

__all__ = ["HEARTBEAT_S", "KINDS", "MANAGER", "METRICS", "OPENAPI", "SETTINGS", "JobService"]


class JobService(Protocol):
    """The job manager as the API uses it."""

    @property
    def draining(self) -> bool: ...

    async def submit(
        self,
        kind: str,
        params: Mapping[str, Any],
        *,
        secret: Password | str | None = None,
        payload: AsyncIterable[bytes] | None = None,
    ) -> Job: ...

    async def get(self, job_id: str) -> Job: ...

    async def list(
        self,
        *,
        status: JobState | None = None,
        kind: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> tuple[builtins.list[Job], str | None]: ...

    async def cancel(self, job_id: str) -> Job: ...

    async def artifact(self, job_id: str) -> tuple[Path, str]: ...

    def events(self, job_id: str) -> AsyncIterator[Job]: ...

    def stats(self) -> JobStats: ...


MANAGER: Final = web.AppKey("fanout.manager", JobService)
SETTINGS: Final = web.AppKey("fanout.settings", Settings)
KINDS: Final = web.AppKey("fanout.kinds", Mapping[str, Kind])
HEARTBEAT_S: Final = web.AppKey("fanout.heartbeat_s", float)
METRICS: Final = web.AppKey("fanout.metrics", Metrics)
OPENAPI: Final = web.AppKey("fanout.openapi", bytes)
