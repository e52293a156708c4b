"""The legacy thread toolkit: queues, workers and counters for code that runs on threads.

- :class:`ClosableQueue` — a bounded FIFO between threads that can be closed (drain, then stop)
  or aborted (discard, wake everyone); iterate it to consume until it is closed and drained.
- :class:`StoppableWorker`, :func:`start_workers`, :func:`stop_workers` — threads that map a
  function over one queue into another, delivering :data:`Outcome` values (:class:`Done` or
  :class:`Failed`), so an exception reaches the consumer instead of ending the thread.
- :class:`LockCounter`, :class:`PeakGauge` — counters shared by threads, guarded by a lock.
- :class:`BlockingRunner`, :func:`run_blocking` — blocking calls on anyio worker threads, at
  most ``limit`` at once, for async code.
- :func:`run_thread_pipeline` — item 55's pipeline: :class:`ThreadStage` crews of workers
  between bounded closable queues; each item ends :class:`Passed` or :class:`Dropped`.

Errors are this module's own or built-ins (``QueueClosed``, ``WorkersStillRunning``,
``queue.Full``, ``queue.Empty``, ``ValueError``): adapters import nothing from ``service``,
which maps them onto its error tree.
"""

from __future__ import annotations

from adapters._threads.blocking import BlockingRunner, run_blocking
from adapters._threads.closable import ClosableQueue, QueueClosed
from adapters._threads.counters import LockCounter, PeakGauge
from adapters._threads.outcome import Done, Failed, Outcome
from adapters._threads.pipeline import Dropped, Passed, ThreadStage, run_thread_pipeline
from adapters._threads.workers import (
    StoppableWorker,
    WorkersStillRunning,
    start_workers,
    stop_workers,
)

__all__ = [
    "BlockingRunner",
    "ClosableQueue",
    "Done",
    "Dropped",
    "Failed",
    "LockCounter",
    "Outcome",
    "Passed",
    "PeakGauge",
    "QueueClosed",
    "StoppableWorker",
    "ThreadStage",
    "WorkersStillRunning",
    "run_blocking",
    "run_thread_pipeline",
    "start_workers",
    "stop_workers",
]
