"""Jobs: the model, the kinds' protocol, the manager that runs them and the store that keeps them.

JobManager      submit, get, list, cancel, artifact, events, drain, stats
JobStore        what the manager needs from a store; SqliteJobStore is one
Artifacts       the directory of job artifacts, written atomically
Kind, JobContext, Outcome   what a kind of job implements and gets (service.jobs.kind)
"""

from __future__ import annotations

from service.jobs.artifacts import Artifacts, is_job_id, write_artifact
from service.jobs.context import RunContext
from service.jobs.events import Subscription
from service.jobs.kind import JobContext, Kind, Outcome
from service.jobs.manager import MAX_PAGE, JobManager
from service.jobs.model import TERMINAL, Job, JobError, JobProgress, JobState, new_job_id, now
from service.jobs.stats import JobStats
from service.jobs.store import JobStore, SqliteJobStore

__all__ = [
    "MAX_PAGE",
    "TERMINAL",
    "Artifacts",
    "Job",
    "JobContext",
    "JobError",
    "JobManager",
    "JobProgress",
    "JobState",
    "JobStats",
    "JobStore",
    "Kind",
    "Outcome",
    "RunContext",
    "SqliteJobStore",
    "Subscription",
    "is_job_id",
    "new_job_id",
    "now",
    "write_artifact",
]
