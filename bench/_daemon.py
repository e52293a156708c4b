"""The daemon of the load and soak benches: a real ``fanout serve``, its log read as it comes,
and its stop on SIGTERM checked.

The daemon is the reliability tests' (``tests.reliability._daemon.spawned``): a process in a
session of its own, started on loopback with port 0, killed together with everything of its
session when the block is left however it is left (an error, Ctrl-C). Its openssl children
run in sessions of their own, so the stop check also follows every child it saw the daemon
have while it drained.
"""

from __future__ import annotations

import signal
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, final

import anyio

from service.jobs.model import TERMINAL
from service.jobs.store.sqlite import SqliteJobStore
from service.system.processes import children, processes
from tests.reliability._daemon import Spawned

__all__ = ["LogNotes", "Stop", "stop"]

_NOTED: Final = ("WARNING", "ERROR", "CRITICAL")
_KEPT: Final = 5  # notable lines quoted in the report
_WATCH_S: Final = 0.02


@final
class LogNotes:
    """The daemon's warnings, errors and tracebacks, counted; its other lines dropped as they
    come (a soak makes a hundred thousand)."""

    __slots__ = ("counts", "first", "lines")

    def __init__(self) -> None:
        self.lines = 0
        self.counts: Counter[str] = Counter()
        self.first: list[str] = []

    def take(self, daemon: Spawned) -> None:
        """Read the lines the daemon wrote since the last call, and forget them."""
        for text in daemon.lines:
            self._note(text)
        self.lines += len(daemon.lines)
        daemon.lines.clear()

    def describe(self) -> str:
        if not self.counts:
            return f"{self.lines:_} lines, no warning, error or traceback"
        counts = ", ".join(f"{name} {count}" for name, count in sorted(self.counts.items()))
        quoted = "".join(f"\n    {text[:300]}" for text in self.first)
        return f"{self.lines:_} lines: {counts}; the first:{quoted}"

    def _note(self, text: str) -> None:
        # Lines read "DATE TIME LEVEL message"; a traceback's lines follow an ERROR line.
        parts = text.split(" ", 3)
        level = parts[2] if len(parts) > 2 else ""
        name = level if level in _NOTED else "Traceback" if text.startswith("Traceback") else ""
        if name:
            self.counts[name] += 1
            if len(self.first) < _KEPT:
                self.first.append(text)


@final
@dataclass(frozen=True, slots=True)
class Stop:
    """How the daemon ended after SIGTERM, and what it left."""

    code: int | None
    """Its exit status; None if it had not exited within the time allowed."""
    seconds: float
    jobs: Counter[str] = field(default_factory=Counter)
    """The states, in the store, of the jobs that were in flight at the signal."""
    survivors: Sequence[int] = ()
    """Processes of its session still alive."""
    children_left: Sequence[int] = ()
    """Children seen while it drained (openssl's, in sessions of their own) still alive."""

    @property
    def ok(self) -> bool:
        unended = set(self.jobs) - {state.value for state in TERMINAL}
        return self.code == 0 and not unended and not self.survivors and not self.children_left

    def describe(self) -> str:
        ended = "no exit" if self.code is None else f"exit {self.code}"
        jobs = ", ".join(f"{count} {state}" for state, count in sorted(self.jobs.items()))
        return (
            f"{ended} {self.seconds:.2f} s after SIGTERM; jobs in flight at the signal: "
            f"{jobs or 'none'}; processes of its session left: {_pids(self.survivors)}; "
            f"children it had while draining still alive: {_pids(self.children_left)}: "
            f"{'ok' if self.ok else 'FAILED'}"
        )


async def stop(daemon: Spawned, in_flight: Sequence[str], *, within_s: float) -> Stop:
    """SIGTERM, the exit status within ``within_s``, and the states of the ``in_flight`` jobs
    as the store keeps them."""
    seen: set[int] = set()
    code: int | None = None
    started = time.perf_counter()

    async def watch() -> None:
        while True:
            seen.update(children(daemon.pid))
            await anyio.sleep(_WATCH_S)

    seen.update(children(daemon.pid))
    daemon.process.send_signal(signal.SIGTERM)
    with anyio.move_on_after(within_s):
        async with anyio.create_task_group() as group:
            group.start_soon(watch)
            code = await daemon.process.wait()
            group.cancel_scope.cancel()
    seconds = time.perf_counter() - started
    if code is None:
        return Stop(None, seconds)
    states = await _states(daemon.store, in_flight)
    # Still running: a zombie, waiting to be reaped by its new parent, is not.
    running = {each.pid for each in processes() if each.state != "Z"}
    left = [pid for pid in sorted(seen) if pid in running]
    return Stop(code, seconds, states, daemon.survivors(), left)


async def _states(path: Path, job_ids: Sequence[str]) -> Counter[str]:
    store = await SqliteJobStore.open(path)
    try:
        jobs = [await store.get(job_id) for job_id in job_ids]
    finally:
        await store.aclose()
    return Counter("missing" if job is None else job.status.value for job in jobs)


def _pids(pids: Sequence[int]) -> str:
    return ", ".join(map(str, pids)) or "none"
