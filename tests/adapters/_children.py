"""What this test process has running: its child processes (zombies too) and its open fds."""

from __future__ import annotations

import os
from pathlib import Path

from service.system.processes import children

__all__ = ["child_pids", "open_fds", "read_proc"]


def child_pids() -> set[int]:
    """Pids whose parent is this process, reaped or not (a zombie counts: nobody waited)."""
    return set(children(os.getpid()))


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def read_proc(pid: int, name: str) -> bytes:
    """/proc/PID/NAME (cmdline, environ), or b"" when the process is gone."""
    try:
        return Path(f"/proc/{pid}/{name}").read_bytes()
    except OSError:
        return b""
