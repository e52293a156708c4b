"""The heading every benchmark table prints: when, on what, with which versions."""

from __future__ import annotations

import datetime
import os
import platform

import numpy as np


def machine() -> str:
    """The date, CPU, core count and versions, for the table's heading."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            cpu = next(line.split(":", 1)[1].strip() for line in info if "model name" in line)
    except (OSError, StopIteration):
        pass
    return (
        f"{datetime.date.today()} · {cpu} · {os.cpu_count()} cores · Python "
        f"{platform.python_version()} · numpy {np.__version__}"
    )
