"""This process's memory as Linux accounts it, for the benchmarks' tables."""

from __future__ import annotations

__all__ = ["status_mib"]


def status_mib(field: str) -> float:
    """``VmRSS`` (now) or ``VmHWM`` (peak) of this process, from /proc/self/status, in MiB.

    Not ``getrusage(RUSAGE_SELF).ru_maxrss``: Linux carries the peak of the process that
    spawned us across fork and exec, so a fresh interpreter started by a benchmark would
    report the benchmark's own RSS. ``VmHWM`` belongs to the address space exec made.
    """
    with open("/proc/self/status", encoding="ascii") as status:
        line = next(line for line in status if line.startswith(f"{field}:"))
    return int(line.split()[1]) / 1024  # kB
