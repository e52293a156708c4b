"""The patterns and secrets the tests share, written once.

GLIDER          the glider as RLE text, as a request body carries it
GLIDER_NAMED    the same with a ``#N`` name line, as a user's file has it
GLIDER_PATH     the glider file the package ships (``service/life/patterns/glider.rle``)
GLIDER_CELLS    its cells, row by row (1 alive)
GLIDER_LIVE     its live cells as (row, column)
PASSWORD        a password for jobs and commands that need one
"""

from __future__ import annotations

from typing import Final

from service.life.formats import bundled_pattern_path

__all__ = ["GLIDER", "GLIDER_CELLS", "GLIDER_LIVE", "GLIDER_NAMED", "GLIDER_PATH", "PASSWORD"]

GLIDER: Final = "x = 3, y = 3, rule = B3/S23\nbob$2bo$3o!\n"
GLIDER_NAMED: Final = f"#N Glider\n{GLIDER}"
GLIDER_PATH: Final = bundled_pattern_path("glider.rle")
GLIDER_CELLS: Final = [[0, 1, 0], [0, 0, 1], [1, 1, 1]]
GLIDER_LIVE: Final = [(0, 1), (1, 2), (2, 0), (2, 1), (2, 2)]
PASSWORD: Final = "correct horse battery staple"
