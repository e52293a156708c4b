"""What a pipeline run reports: every item's outcome, and each stage's counters as it goes."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import final

__all__ = ["Manifest", "Outcome", "Progress", "StageCounts"]


@final
@dataclass(frozen=True, slots=True)
class Outcome:
    """One item: where it came from, what the last stage made of it, or where and why it failed.

    ``attempts`` counts the calls each stage made for it (more than one: it was retried).
    """

    index: int
    source: str
    result: object | None
    stage: str | None = None
    error: str | None = None
    error_type: str | None = None
    attempts: Mapping[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error is None


@final
@dataclass(frozen=True, slots=True)
class Manifest:
    """Every item's outcome in input order, and the run's bound on items in flight."""

    outcomes: tuple[Outcome, ...]
    peak_in_flight: int
    bound: int

    @property
    def succeeded(self) -> int:
        return sum(outcome.ok for outcome in self.outcomes)

    @property
    def failed(self) -> int:
        return len(self.outcomes) - self.succeeded


@final
@dataclass(slots=True)
class StageCounts:
    """One stage's counters: items received, passed on, failed for good, being worked on."""

    name: str
    received: int = 0
    passed: int = 0
    failed: int = 0
    in_flight: int = 0
    retries: int = 0


Progress = Callable[[tuple[StageCounts, ...]], None]
"""Called with every stage's counters whenever one of them changes."""
