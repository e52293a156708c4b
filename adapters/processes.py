"""Worker processes and shared memory, behind a small typed API.

- :class:`SharedArray`, :class:`SharedSpec` — a numpy array in named shared memory: the owner
  creates it, other processes attach by spec (a name, a shape, a dtype), and the array itself is
  never pickled. :func:`attached` is the worker side: one attachment per block per process.
- :class:`WorkerPool` — the pool shape: ``map`` (blocking, results in order), ``close`` (orderly)
  and ``terminate`` (cancellation).
- :class:`ProcessPool` — our own forkserver worker processes, terminated with SIGTERM, a grace
  period and SIGKILL, every child reaped.
- :class:`AsyncProcessPool` — the same workers for async callers: ``await run(fn, item)``, one
  task a worker, a cancelled call's worker killed; workers start when first needed.
- :class:`ExecutorPool` — the same shape over any ``concurrent.futures.Executor``, which cannot
  stop a task that already runs.
- :func:`stop_helpers` — stop multiprocessing's forkserver and resource tracker (they would
  otherwise outlive this process by a moment), for a daemon's last step.

Errors are this module's own (adapters import nothing from ``service``, which maps them)::

    RuntimeError
    ├── WorkerCrashed       a worker process died (exit code, signal) while the pool needed it
    ├── PoolClosed          map() on a closed, terminated or broken pool, or cut short
    └── TaskFailed          stands in for a task's exception that won't travel back (pickle)
    BufferError
    └── SharedArrayInUse    close() while numpy views of the block are still alive

A task's own exception is raised in the caller with its own type, the worker's traceback
attached as a note (ProcessPool) or as its ``__cause__`` (a ProcessPoolExecutor).
"""

from __future__ import annotations

from adapters._processes.async_pool import AsyncProcessPool
from adapters._processes.attach_cache import attached, detach_all
from adapters._processes.errors import PoolClosed, TaskFailed, WorkerCrashed
from adapters._processes.executor_pool import ExecutorPool
from adapters._processes.helpers import stop_helpers
from adapters._processes.process_pool import ProcessPool
from adapters._processes.protocol import WorkerPool
from adapters._processes.shared import (
    NAME_PREFIX,
    SharedArray,
    SharedArrayInUse,
    SharedSpec,
    block_prefix,
)

__all__ = [
    "NAME_PREFIX",
    "AsyncProcessPool",
    "ExecutorPool",
    "PoolClosed",
    "ProcessPool",
    "SharedArray",
    "SharedArrayInUse",
    "SharedSpec",
    "TaskFailed",
    "WorkerCrashed",
    "WorkerPool",
    "attached",
    "block_prefix",
    "detach_all",
    "stop_helpers",
]
