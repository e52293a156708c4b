"""Spare pairs of padded grids for the kernel, lent out and given back.

Band workers step the same shapes dispatch after dispatch, and run after run in the daemon.
Fresh buffers each time cost more in page faults than the work on a band of a thousand rows,
so buffers are kept when given back, up to a fixed number of bytes, oldest dropped first.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

import numpy as np

from service.life.bits import Words

__all__ = ["lend"]

MAX_SPARE_BYTES: Final = 256 * 1024 * 1024

_lock = threading.Lock()
_spares: OrderedDict[int, tuple[tuple[int, int], tuple[Words, Words]]] = OrderedDict()
_ids = iter(range(1 << 62))


@contextmanager
def lend(height: int, width: int) -> Iterator[tuple[Words, Words]]:
    """Two zeroed-once uint64 grids of that shape, for the duration of the ``with`` block."""
    pair = _take((height, width))
    try:
        yield pair
    finally:
        _give((height, width), pair)


def _take(shape: tuple[int, int]) -> tuple[Words, Words]:
    with _lock:
        for key, (spare_shape, pair) in _spares.items():
            if spare_shape == shape:
                del _spares[key]
                return pair
    return np.zeros(shape, dtype=np.uint64), np.zeros(shape, dtype=np.uint64)


def _give(shape: tuple[int, int], pair: tuple[Words, Words]) -> None:
    with _lock:
        _spares[next(_ids)] = (shape, pair)
        while sum(a.nbytes + b.nbytes for _, (a, b) in _spares.values()) > MAX_SPARE_BYTES:
            _spares.popitem(last=False)
