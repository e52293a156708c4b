"""Importing this module loads the compiled kernel (from numba's on-disk cache, or compiles it).

The ``processes`` strategy names it in the fork server's preload list: the server loads the
kernel once, and every worker forked from it starts with the machine code in memory instead
of spending a large part of a second loading it on its first chunk. Each entry point is a
dispatcher of its own, so both are called: ``advance`` (whole grids) and ``advance_padded``
(bands, what the workers run).
"""

from __future__ import annotations

import numpy as np

from service.life.engines._kernel import advance, advance_padded

advance(np.zeros((1, 1), dtype=np.uint64), 1, 1, True, True, 8, 12)
_current, _following = np.zeros((3, 3), dtype=np.uint64), np.zeros((3, 3), dtype=np.uint64)
advance_padded(_current, _following, 1, 1, True, False, 8, 12, False, False)
