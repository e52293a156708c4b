"""What Linux says about a process, from ``/proc``: memory, open files, threads, children.

The daemon's ``/metrics`` counts its own children with it; the reliability tests and the load
and soak benchmarks watch a daemon from outside with it. A process that is gone (or that we
may not look at) reads as :data:`None` rather than an error: it may end between two looks.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import final

__all__ = ["Process", "Usage", "children", "descendants", "processes", "session", "usage"]

_PROC = Path("/proc")
_HELPER_CODE = (b"from multiprocessing.forkserver ", b"from multiprocessing.resource_tracker ")


@final
@dataclass(frozen=True, slots=True)
class Usage:
    """One look at a process: resident memory, open file descriptors, threads, children.

    ``children`` leaves out multiprocessing's helpers (the forkserver and the resource tracker,
    which stay once started); ``workers`` counts the processes under them (pool workers).
    """

    rss_mib: float
    fds: int
    threads: int
    children: int
    workers: int = 0


def usage(pid: int) -> Usage | None:
    """``pid``'s resident memory, descriptors, threads and children now (None: it is gone)."""
    try:
        status = (_PROC / str(pid) / "status").read_text()
        fds = len(os.listdir(_PROC / str(pid) / "fd"))
    except OSError:
        return None
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    rss_kib = int(fields.get("VmRSS", "0 kB").split()[0])
    threads = int(fields.get("Threads", "0"))
    kids = children(pid)
    helpers = [kid for kid in kids if _is_helper(kid)]
    workers = sum(len(descendants(helper)) for helper in helpers)
    return Usage(rss_kib / 1024, fds, threads, len(kids) - len(helpers), workers)


def _is_helper(pid: int) -> bool:
    """Whether ``pid`` runs multiprocessing's forkserver or resource tracker."""
    try:
        argv = (_PROC / str(pid) / "cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return any(arg.startswith(_HELPER_CODE) for arg in argv)


@final
@dataclass(frozen=True, slots=True)
class Process:
    """One line of the process table: who it is, whose child, of which session, since when."""

    pid: int
    parent: int
    session: int
    start_ticks: int  # since boot, in clock ticks: with the pid, it names one process for good
    name: str
    state: str  # "R", "S", "Z" (a zombie)...


def children(pid: int) -> list[int]:
    """The processes whose parent is ``pid``, zombies included."""
    return [each.pid for each in processes() if each.parent == pid]


def descendants(pid: int) -> set[int]:
    """Every process under ``pid`` now: its children, theirs, and so on (zombies included)."""
    table = list(processes())
    found: set[int] = set()
    parents = {pid}
    while parents:
        parents = {each.pid for each in table if each.parent in parents} - found
        found |= parents
    return found


def session(sid: int) -> list[int]:
    """The processes of session ``sid`` (``start_new_session`` makes the child its leader)."""
    return [each.pid for each in processes() if each.session == sid]


def processes() -> Iterator[Process]:
    """Every process now, read from its ``stat`` line (those that end meanwhile are skipped)."""
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # gone meanwhile
        # "pid (comm) state ppid pgrp session ... starttime ...": comm may hold spaces and
        # parentheses, so the fields are counted after its last ")".
        fields = stat[stat.rindex(")") + 2 :].split()
        if len(fields) > 19:
            name = stat[stat.index("(") + 1 : stat.rindex(")")]
            yield Process(
                int(entry.name), int(fields[1]), int(fields[3]), int(fields[19]), name, fields[0]
            )
