"""What this test process has running: its child processes (zombies too) and its open fds."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["child_pids", "open_fds", "read_proc"]


def child_pids() -> set[int]:
    """Pids whose parent is this process, reaped or not (a zombie counts: nobody waited)."""
    me = os.getpid()
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # gone meanwhile
        # "pid (comm) state ppid ...": comm may hold spaces, so split after its last ')'.
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[1]) == me:
            found.add(int(entry.name))
    return found


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def read_proc(pid: int, name: str) -> bytes:
    """/proc/PID/NAME (cmdline, environ), or b"" when the process is gone."""
    try:
        return Path(f"/proc/{pid}/{name}").read_bytes()
    except OSError:
        return b""
