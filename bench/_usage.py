"""The daemon's usage over a load or soak run, read from ``/proc``, and the verdict on its growth.

A leak is growth that does not level off. The benches compare a late span of the run with an
early one (after a warm-up), its high-water mark (or, under load, the median of its open fds
and threads), and allow a stated bound for what a steady daemon still varies by: allocator
arenas and fragmentation, SQLite's page cache, the worker threads anyio keeps (up to its
limiter's size) and the connections in flight. At rest the daemon has no child but
multiprocessing's forkserver and resource tracker, and no more worker processes under them
than ``[jobs] worker_processes`` (they stay, by design, for the next small Life run).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final, final

import anyio
from anyio import to_thread

from service.config import Settings
from service.system.processes import Usage, usage

__all__ = ["Bounds", "Check", "Sample", "at_rest", "compare", "look", "spread"]

_REST_POLL_S: Final = 0.1
_WORKERS: Final = Settings().jobs.worker_processes  # the benches' daemons keep the default


@final
@dataclass(frozen=True, slots=True)
class Sample:
    """One look at the daemon: seconds into the run, jobs completed by then, what it held."""

    at_s: float
    jobs: int
    usage: Usage


@final
@dataclass(frozen=True, slots=True)
class Bounds:
    """How far a late high-water mark may exceed an early one and still count as flat.

    RSS may grow by ``rss_mib`` or by ``rss_share`` of the early mark, whichever is larger.
    """

    rss_mib: float
    rss_share: float
    fds: int
    threads: int

    def describe(self) -> str:
        share = f" or +{self.rss_share:.0%}, whichever is larger" if self.rss_share else ""
        return (
            f"RSS +{self.rss_mib:g} MiB{share}; open fds +{self.fds}; threads +{self.threads}; "
            f"children 0 at rest (multiprocessing's helpers aside), at most {_WORKERS} worker "
            "processes"
        )


@final
@dataclass(frozen=True, slots=True)
class Check:
    """One resource: its early and late marks, and the most the late one may be."""

    name: str
    early: float
    late: float
    allowed: float

    @property
    def ok(self) -> bool:
        return self.late <= self.allowed

    def describe(self) -> str:
        verdict = "flat" if self.ok else "GREW"
        return (
            f"{self.name}: {self.early:.4g} → {self.late:.4g} "
            f"(at most {self.allowed:.4g}): {verdict}"
        )


async def look(pid: int) -> Usage:
    """``pid``'s usage now, read on a worker thread (a scan of ``/proc`` takes a few ms)."""
    found = await to_thread.run_sync(usage, pid)
    if found is None:
        raise RuntimeError(f"the daemon (pid {pid}) has gone: it crashed or was killed")
    return found


async def at_rest(pid: int, *, within_s: float) -> Usage:
    """``pid``'s usage once it has no child left, or as it is after ``within_s``."""
    with anyio.move_on_after(within_s):
        while (now := await look(pid)).children:  # noqa: ASYNC110 - polling /proc
            await anyio.sleep(_REST_POLL_S)
        return now
    return await look(pid)


def compare(
    early: Sequence[Usage],
    late: Sequence[Usage],
    rest: Usage,
    bounds: Bounds,
    *,
    busy: bool = False,
) -> list[Check]:
    """``late``'s RSS, fds and threads against ``early``'s; children at ``rest``.

    RSS by its high-water mark. Fds and threads too, unless the samples are ``busy`` (taken
    under load): then by their median, since their peaks are whatever happens to be in flight
    at the worst second (a crypto job holds about 9 fds, a request a worker thread), while a
    leak raises every sample, the median with them.
    """
    mark: Callable[[Sequence[float]], float] = statistics.median if busy else max
    label = ", median" if busy else ""

    def marks(
        measure: Callable[[Usage], float], pick: Callable[[Sequence[float]], float]
    ) -> tuple[float, float]:
        return pick([measure(each) for each in early]), pick([measure(each) for each in late])

    rss, fds, threads = marks(_rss, max), marks(_fds, mark), marks(_threads, mark)
    return [
        Check(
            "RSS (MiB), high-water mark",
            *rss,
            rss[0] + max(bounds.rss_mib, rss[0] * bounds.rss_share),
        ),
        Check(f"open fds{label}", *fds, fds[0] + bounds.fds),
        Check(f"threads{label}", *threads, threads[0] + bounds.threads),
        Check("children at rest", 0, rest.children, 0),
        Check("worker processes at rest", 0, rest.workers, _WORKERS),
    ]


def spread(values: Sequence[float], digits: int = 0) -> str:
    """``first / min / max / last`` of ``values``."""
    picked = (values[0], min(values), max(values), values[-1])
    return " / ".join(f"{value:.{digits}f}" for value in picked)


def _rss(found: Usage) -> float:
    return found.rss_mib


def _fds(found: Usage) -> float:
    return found.fds


def _threads(found: Usage) -> float:
    return found.threads
