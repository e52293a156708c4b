"""One run of one kind: its time limit, its outcome checked, every error turned into a snapshot.

``attempt`` never raises an ``Exception``: a kind that fails, crashes or returns something
unusable gives a ``failed`` snapshot, so no job can bring the manager down. Cancellation is the
one thing that passes through (the manager decides whether that means cancelled or
interrupted).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import anyio
import msgspec

from service.errors import FanoutError, TimedOut
from service.jobs._transitions import failed, succeeded
from service.jobs.artifacts import Artifacts
from service.jobs.context import RunContext
from service.jobs.kind import Kind, Outcome
from service.jobs.model import Job

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
        return failed(latest, exc, secret=context.secret)
    latest = msgspec.structs.replace(context.job, progress=context.latest)
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
    try:
        synced = await anyio.to_thread.run_sync(_synced_file, artifacts.root / name)
    except OSError as exc:
        reason = exc.strerror or exc
        message = f"the job's artifact {name} cannot be synced to the disk: {reason}"
        raise FanoutError(message) from exc
    if not synced:
        raise FanoutError(f"the job's artifact {name} was never written")
    return result, name


def _synced_file(path: Path) -> bool:
    """Whether ``path`` is a regular file; if so, its data and its name are on the disk before
    this returns.

    The job is recorded as succeeded next, and the store syncs at its checkpoints: the artifact
    must not be emptier than its record after a power cut, nor missing. The Life and pipeline
    writers sync their data already (this costs them a syscall); the crypto library renames its
    output into place unsynced, as ``openssl enc -out`` leaves a file. Every writer puts the file
    in place by a rename, which is durable only once the directory is synced too (ext4 commits
    it with the file's fsync, other file systems may not; after the file's, the directory's
    fsync costs about 0.1 ms on this machine's ext4).
    """
    try:
        # O_NONBLOCK: a FIFO in its place must not block the open.
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return False
    try:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            return False
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
    directory = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
    return True
