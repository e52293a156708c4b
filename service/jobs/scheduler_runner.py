"""One run of one kind: its time limit, its outcome checked, every error turned into a snapshot.

``attempt`` never raises an ``Exception``: a kind that fails, crashes or returns something
unusable gives a ``failed`` snapshot, so no job can bring the manager down. Cancellation is the
one thing that passes through (the manager decides whether that means cancelled or
interrupted).
"""

from __future__ import annotations

from typing import Any

import anyio
import msgspec

from service.errors import FanoutError, TimedOut
from service.jobs.artifacts import Artifacts, sync_artifact
from service.jobs.context import RunContext
from service.jobs.kind import Kind, Outcome
from service.jobs.model import Job
from service.jobs.transitions import failed, partly_failed, succeeded

__all__ = ["attempt"]


async def attempt(
    kind: Kind, params: msgspec.Struct, context: RunContext, artifacts: Artifacts
) -> Job:
    """Run ``kind`` on ``params`` once; the job's ``succeeded`` or ``failed`` snapshot."""
    try:
        outcome = await _run(kind, params, context)
        result, artifact = await _check(outcome, artifacts)
    except Exception as exc:
        latest = msgspec.structs.replace(context.job, progress=context.latest)
        return failed(latest, exc)
    latest = msgspec.structs.replace(context.job, progress=context.latest)
    if outcome.failure is not None:
        return partly_failed(
            latest, result, outcome.failure, artifact=artifact, artifact_type=outcome.media_type
        )
    return succeeded(latest, result, artifact=artifact, artifact_type=outcome.media_type)


async def _run(kind: Kind, params: msgspec.Struct, context: RunContext) -> Outcome:
    limit = kind.timeout_s(context.settings)
    if limit is None:
        return await kind.run(params, context)
    # move_on_after rather than fail_after: a TimeoutError the kind raises itself (a socket's)
    # stays its own error, and only our deadline is reported as the job's time limit. A kind
    # that turns the cancellation into its own error (a killed child) is still timed out.
    message = f"the job ran past its time limit of {limit:g} s and was stopped"
    with anyio.move_on_after(limit) as deadline:
        try:
            return await kind.run(params, context)
        except Exception as exc:
            if deadline.cancel_called:
                raise TimedOut(message) from exc
            raise
    raise TimedOut(message)


async def _check(outcome: Outcome, artifacts: Artifacts) -> tuple[dict[str, Any], str | None]:
    if not isinstance(outcome, Outcome):
        raise FanoutError(f"the job's kind returned {type(outcome).__name__}, not an Outcome")
    try:
        result = msgspec.to_builtins(outcome.result)
    except (TypeError, ValueError) as exc:
        raise FanoutError(f"the job's result cannot be kept as JSON: {exc}") from exc
    if outcome.artifact is None:
        return result, None
    try:
        name = artifacts.relative(outcome.artifact)
    except ValueError as exc:
        raise FanoutError(f"the job's artifact is misplaced: {exc}") from exc
    if not outcome.synced:
        await anyio.to_thread.run_sync(sync_artifact, artifacts.root / name)
    return result, name
