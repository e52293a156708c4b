"""The errors of :mod:`adapters.processes`; the service maps them onto its own tree."""

from __future__ import annotations

import signal

__all__ = ["PoolClosed", "TaskFailed", "WorkerCrashed", "describe_exit"]


class WorkerCrashed(RuntimeError):
    """Raised when a worker process dies (exit code, signal) while the pool still needs it."""

    def __init__(
        self, message: str, *, worker: str = "", pid: int | None = None, exitcode: int | None = None
    ) -> None:
        super().__init__(message)
        self.worker = worker
        self.pid = pid
        self.exitcode = exitcode


class PoolClosed(RuntimeError):
    """Raised when map() meets a closed, terminated or broken pool, or terminate() cuts it short."""


class TaskFailed(RuntimeError):
    """Raised in place of a task's exception that cannot travel back as itself (it won't pickle)."""


def describe_exit(exitcode: int | None) -> str:
    """``exit code 3`` or ``signal SIGKILL (9)``, from a multiprocessing exit code."""
    if exitcode is None:
        return "an unknown exit status"
    if exitcode >= 0:
        return f"exit code {exitcode}"
    try:
        name = signal.Signals(-exitcode).name
    except ValueError:
        name = "signal"
    return f"signal {name} ({-exitcode})"
