"""Stage functions for the engine's tests; module-level so process workers can import them."""

from __future__ import annotations

import os
import time
from pathlib import Path


def square(value: object) -> int:
    number = int(str(value))
    return number * number


def hold(value: object) -> object:
    """Sleep as long as the item says (seconds), noting this process's pid in a file first."""
    seconds, marker = str(value).split(",", 1)
    Path(marker).write_text(str(os.getpid()))
    time.sleep(float(seconds))
    return value
