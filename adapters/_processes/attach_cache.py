"""Blocks a worker process has attached, kept open so that it attaches once per block, not per task.

A task names its blocks by :class:`SharedSpec`; :func:`attached` maps each one on first use and
keeps it. The cache is bounded: a long-lived worker serving many runs would otherwise keep every
block it ever saw mapped, and an unlinked block's memory is only freed when the last mapping goes.
"""

from __future__ import annotations

import atexit
import threading
from collections import OrderedDict
from contextlib import suppress
from typing import Any, Final

import numpy.typing as npt

from adapters._processes.shared import SharedArray, SharedArrayInUse, SharedSpec

__all__ = ["attached", "detach_all"]

CACHE_SIZE: Final = 8
"""Blocks kept attached per process; the least recently used beyond this are closed."""

_blocks: Final[OrderedDict[SharedSpec, SharedArray]] = OrderedDict()
_lock: Final = threading.Lock()


def attached(spec: SharedSpec) -> npt.NDArray[Any]:
    """The array of ``spec``'s block, attached on first use in this process and then reused."""
    with _lock:
        block = _blocks.get(spec)
        if block is None:
            block = _blocks[spec] = SharedArray.attach(spec)
            _close_old()
        _blocks.move_to_end(spec)
        return block.array


def detach_all() -> None:
    """Close every block :func:`attached` opened (one still in use is unmapped after it)."""
    with _lock:
        _close(list(_blocks))


def _close_old() -> None:
    _close(list(_blocks)[:-CACHE_SIZE])


def _close(specs: list[SharedSpec]) -> None:
    for spec in specs:
        with suppress(SharedArrayInUse):  # a task still holds its array: unmapped after it
            _blocks.pop(spec).close()


# Multiprocessing's children leave through os._exit, which skips atexit: the pool's worker loop
# calls detach_all itself. This covers plain processes; a process that skips both loses nothing,
# since borrowers never register with the resource tracker and the OS unmaps at exit.
atexit.register(detach_all)
