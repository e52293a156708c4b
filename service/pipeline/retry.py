"""When to try an item again, and how long to wait first: exponential backoff with full jitter.

Only errors that say they are transient are retried (an ``transient`` attribute that is True,
as ``adapters.http_io.HttpError`` has, or a stage's own time limit running out). Everything else
- a 404, a file that is not an image - would fail the same way again.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import final

__all__ = ["Retry", "is_transient"]


@final
@dataclass(frozen=True, slots=True)
class Retry:
    """``attempts`` in all (1: never again); waits grow from ``base_s`` doubling to ``max_s``.

    Each wait is drawn uniformly from zero to its ceiling ("full jitter"), so items that failed
    together do not all come back together.
    """

    attempts: int = 1
    base_s: float = 0.1
    max_s: float = 5.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"retry attempts {self.attempts}: must be at least 1")
        if not 0 <= self.base_s <= self.max_s:
            raise ValueError(f"retry waits {self.base_s}..{self.max_s} s: need 0 <= base <= max")

    def delay(self, failures: int, rng: random.Random) -> float:
        """The wait before the next attempt, after ``failures`` failed ones (1, 2, ...)."""
        ceiling = min(self.max_s, self.base_s * 2.0 ** (failures - 1))
        return rng.uniform(0.0, ceiling)


def is_transient(error: BaseException) -> bool:
    """Whether trying again may help: the error says so, or it is a stage's time limit."""
    return getattr(error, "transient", False) is True or isinstance(error, TimeoutError)
