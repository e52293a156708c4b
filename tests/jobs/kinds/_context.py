"""A real JobContext for the kinds' tests: artifacts in a temporary directory, progress kept."""

from __future__ import annotations

from collections.abc import AsyncIterable
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from service.config import Settings
from service.crypto import Password
from service.jobs.kind import Kind, Workers
from service.jobs.model import Job, JobState, new_job_id, now

__all__ = ["Context", "stored_params"]


def _job() -> Job:
    return Job(id=new_job_id(), kind="test", status=JobState.RUNNING, params={}, created_at=now())


@dataclass
class Context:
    """What the manager would hand a running job."""

    directory: Path
    settings: Settings = field(default_factory=Settings)
    secret: Password | None = None
    request: object | None = None
    payload: AsyncIterable[bytes] | None = None
    job: Job = field(default_factory=_job)
    processes: Workers | None = None
    reports: list[tuple[int, int]] = field(default_factory=list)

    def artifact_path(self, suffix: str) -> Path:
        return self.directory / f"{self.job.id}{suffix}"

    def progress(self, done: int, total: int) -> None:
        self.reports.append((done, total))


def stored_params(kind: Kind, params: msgspec.Struct) -> dict[str, object]:
    """The parameters as the manager stores them: builtins, the kind's secret fields removed."""
    builtins = msgspec.to_builtins(params)
    assert isinstance(builtins, dict)
    return {key: value for key, value in builtins.items() if key not in kind.secret_fields}
