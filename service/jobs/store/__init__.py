"""Where jobs are kept: the ``JobStore`` protocol the manager needs, and the SQLite store.

protocol        ``JobStore``: what the manager asks of a store
sqlite          ``SqliteJobStore``: one file, WAL, its writes group-committed
group_commit    many tasks' writes committed together, one transaction at a time
"""

from __future__ import annotations

from service.jobs.store.protocol import SWEEP_BATCH, JobStore
from service.jobs.store.sqlite import SqliteJobStore

__all__ = ["SWEEP_BATCH", "JobStore", "SqliteJobStore"]
