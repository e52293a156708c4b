"""What the manager counts for ``/metrics`` and for its ``Busy`` retry estimates."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final, final

from service.jobs.model import Job, JobState

__all__ = ["JobStats", "Tally"]

_WEIGHT: Final = 0.2
"""How much the latest run counts in the moving average of run times."""
_LONGEST_RETRY_S: Final = 3600


@final
@dataclass(frozen=True, slots=True)
class JobStats:
    """A moment's counts: jobs waiting and running (in all and per kind), and jobs finished
    per kind and state since the manager started."""

    queued: int
    running: int
    queued_by_kind: Mapping[str, int]
    running_by_kind: Mapping[str, int]
    finished: Mapping[tuple[str, JobState], int]
    draining: bool


@final
class Tally:
    """Finished jobs per kind and state, and a moving average of how long runs take."""

    __slots__ = ("_finished", "mean_run_s")

    def __init__(self) -> None:
        self._finished: Counter[tuple[str, JobState]] = Counter()
        self.mean_run_s = 1.0

    def __repr__(self) -> str:
        return f"<Tally finished={sum(self._finished.values())} mean_run_s={self.mean_run_s:.3g}>"

    def finished(self, job: Job) -> None:
        """Count ``job``, just finished."""
        self._finished[job.kind, job.status] += 1
        if job.started_at is not None and job.finished_at is not None:
            took = max(0.0, job.finished_at - job.started_at)
            self.mean_run_s += _WEIGHT * (took - self.mean_run_s)

    def retry_after_s(self, *, slots: int) -> int:
        """Whole seconds until a place in a full queue is likely to free up; at least 1.

        A place frees when any of the ``slots`` running jobs ends and the first queued job
        takes its slot: on average every ``mean_run_s / slots`` seconds.
        """
        estimate = math.ceil(self.mean_run_s / max(1, slots))
        return max(1, min(_LONGEST_RETRY_S, estimate))

    def stats(
        self, queued: Mapping[str, int], running: Iterable[Job], *, draining: bool
    ) -> JobStats:
        """The counts now, from the jobs ``queued`` per kind and those ``running``."""
        busy = Counter(job.kind for job in running)
        return JobStats(
            queued=sum(queued.values()),
            running=busy.total(),
            queued_by_kind=dict(queued),
            running_by_kind=dict(busy),
            finished=dict(self._finished),
            draining=draining,
        )
