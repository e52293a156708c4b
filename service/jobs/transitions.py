"""A job's next snapshot for each move of its state machine (see ``service.jobs.model``).

Pure functions of the previous snapshot, so every place that moves a job (a run, a cancel, a
drain, a restart) records the same fields the same way. Error types are exception class names
(``TimedOut``, ``CryptoFailed``) or the fixed ``Cancelled`` and ``Interrupted``.
"""

from __future__ import annotations

from typing import Any, Final

import msgspec

from service.jobs.model import Job, JobError, JobState, now

__all__ = [
    "BEFORE_START",
    "LOST_SECRET",
    "WHILE_RUNNING",
    "describe",
    "failed",
    "partly_failed",
    "started",
    "stopped",
    "succeeded",
]

WHILE_RUNNING: Final = "the daemon stopped while it ran"
BEFORE_START: Final = "the daemon stopped before it started"
LOST_SECRET: Final = "its password was not kept across the restart"


def started(job: Job) -> Job:
    return msgspec.structs.replace(job, status=JobState.RUNNING, started_at=now())


def succeeded(
    job: Job, result: dict[str, Any], *, artifact: str | None, artifact_type: str | None
) -> Job:
    return msgspec.structs.replace(
        job,
        status=JobState.SUCCEEDED,
        finished_at=now(),
        result=result,
        artifact=artifact,
        artifact_type=artifact_type if artifact is not None else None,
    )


def partly_failed(
    job: Job,
    result: dict[str, Any],
    message: str,
    *,
    artifact: str | None,
    artifact_type: str | None,
) -> Job:
    """``failed``, with what the job made kept: a pipeline's manifest when an item failed."""
    return msgspec.structs.replace(
        succeeded(job, result, artifact=artifact, artifact_type=artifact_type),
        status=JobState.FAILED,
        error=JobError("PartlyFailed", message),
    )


def failed(job: Job, exc: BaseException) -> Job:
    return msgspec.structs.replace(
        job, status=JobState.FAILED, finished_at=now(), error=describe(exc)
    )


def stopped(job: Job, state: JobState, message: str | None = None) -> Job:
    """``job`` ended ``cancelled`` or ``interrupted``; the message says when it happened."""
    if state not in (JobState.CANCELLED, JobState.INTERRUPTED):
        raise ValueError(f"a job is stopped as cancelled or interrupted, not {state}")
    if message is None:
        message = _cancelled(job) if state is JobState.CANCELLED else _interrupted(job)
    kind = "Cancelled" if state is JobState.CANCELLED else "Interrupted"
    return msgspec.structs.replace(
        job, status=state, finished_at=now(), error=JobError(kind, message)
    )


def describe(exc: BaseException) -> JobError:
    """An exception as a job error: its class name and message.

    Nothing is masked here: a message is made of known parts, never of text that could hold
    a secret (openssl reads the password from a pipe, so its stderr cannot quote it). Masking
    a secret in a message would tell its reader which letters the secret has.
    """
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        # A kind's own task group wraps the one error that stopped it; report that error.
        exc = exc.exceptions[0]
    message = str(exc) or type(exc).__name__
    return JobError(type(exc).__name__, message)


def _cancelled(job: Job) -> str:
    return "cancelled while it ran" if job.started_at is not None else "cancelled before it started"


def _interrupted(job: Job) -> str:
    return WHILE_RUNNING if job.started_at is not None else BEFORE_START
