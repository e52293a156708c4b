"""A job as the daemon keeps it: kind, parameters (secrets removed), state, times, outcome.

States::

    queued ──> running ──> succeeded | failed | cancelled
       │          │
       └──────────┴──> interrupted     the daemon stopped (or crashed) before the job ended,
                                       or a queued job's secret was lost with the process
       queued ──> cancelled            cancelled before it started

``Job`` values are immutable ``msgspec.Struct`` objects: the manager makes a new one for each
change and stores it; the API encodes them as they are, and their JSON Schema is the one in
``/openapi.json``.
"""

from __future__ import annotations

import enum
import random
import time
from typing import Any, Final

import msgspec

__all__ = [
    "KINDS",
    "TERMINAL",
    "Job",
    "JobError",
    "JobProgress",
    "JobState",
    "new_job_id",
    "now",
]

KINDS: Final[tuple[str, ...]] = ("life", "encrypt", "decrypt", "pipeline")


class JobState(enum.StrEnum):
    """Where a job is in its life."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"


TERMINAL: Final = frozenset(
    {JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED, JobState.INTERRUPTED}
)


class JobProgress(msgspec.Struct, frozen=True):
    """How far a job has come: ``done`` of ``total`` units (generations, bytes, items)."""

    done: int = 0
    total: int = 0


class JobError(msgspec.Struct, frozen=True):
    """Why a job failed: the error's type (e.g. ``CryptoFailed``) and its message."""

    type: str
    message: str


class Job(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """One job. Times are Unix seconds; ``artifact`` is a path inside the artifacts directory.

    ``gc=False``: the garbage collector does not track jobs. A job holds only JSON-like data,
    which never refers back to it, so it can never be part of a reference cycle; and a daemon
    with a long queue holds tens of thousands of them, which every full collection would walk.
    """

    id: str
    kind: str
    status: JobState
    params: dict[str, Any]
    created_at: float
    started_at: float | None = None
    finished_at: float | None = None
    progress: JobProgress = JobProgress()
    result: dict[str, Any] | None = None
    error: JobError | None = None
    artifact: str | None = None
    artifact_type: str | None = None
    # True when the job needs what lives in memory only (a password, a payload given in its
    # params): if the daemon stops before the job starts, that is gone and the job ends
    # interrupted.
    needs_secret: bool = False

    @property
    def finished(self) -> bool:
        return self.status in TERMINAL


def now() -> float:
    return time.time()


def new_job_id() -> str:
    """26 lowercase hex-and-time characters that sort by creation time (for cursors)."""
    # The 40 random bits only keep apart ids made in the same nanosecond (or by two daemons on
    # one store). An id is no secret: whoever may read a job may list them all. So ``random``
    # makes them, rather than ``os.urandom``: a system call on every submission, and one that
    # releases the GIL, for the store's thread to take it from the event loop.
    return f"{time.time_ns():016x}{random.getrandbits(40):010x}"
