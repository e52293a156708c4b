"""ProcessPool: worker processes the caller can always stop (SIGTERM, a grace period, SIGKILL).

Why not ``concurrent.futures.ProcessPoolExecutor``: on 3.11 its workers cannot be terminated
without its private attributes, and one dead worker breaks it for good. Why a duplex pipe per
worker rather than one shared queue: a worker killed while it holds a shared queue's lock
deadlocks all the others, and ``multiprocessing.Queue`` adds a feeder thread to flush at exit.
With a pipe each, the parent hands a task to an idle worker and waits on every pipe and every
process sentinel at once (``multiprocessing.connection.wait``), so it sees a worker die the
moment it does: a crash raises :class:`WorkerCrashed`, never a hang.

Why forkserver: ``fork`` copies a parent that has threads (anyio's workers, an event loop), and
the child can deadlock on a lock one of them held; ``spawn`` imports everything again for every
worker. The forkserver is a clean process, started once, that imports ``preload`` (numpy, numba
kernels) once and forks workers that already have it.

The forkserver is global to the interpreter, and ``set_forkserver_preload`` only counts when the
server starts: the first forkserver process of any kind (this pool or any other code) fixes its
preload, and a later pool's list is kept for a restart only. On 3.11 the server also imports
with its own ``sys.path`` and ignores ImportError. So each worker imports its pool's ``preload``
again: a no-op when the server had it, and otherwise the module is loaded before the first task.
The server itself is multiprocessing's, not a pool's: it stays until this interpreter exits.
"""

from __future__ import annotations

import importlib.util
import itertools
import logging
import multiprocessing
import pickle
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from contextlib import suppress
from multiprocessing.connection import Connection, wait
from multiprocessing.context import ForkContext, ForkServerContext, SpawnContext
from multiprocessing.process import BaseProcess
from typing import Any, Final, Literal, TypeAlias, cast, final

from adapters._processes.errors import PoolClosed, WorkerCrashed, describe_exit
from adapters._processes.protocol import ClosesOnExit, R, T
from adapters._processes.worker import READY, Failure, serve

__all__ = ["STOP_TIMEOUT_S", "ProcessPool"]

STOP_TIMEOUT_S: Final = 10.0
"""How long :meth:`ProcessPool.close` lets idle workers exit before it terminates them."""

# A dead worker's pipe reports EOF a moment before the forkserver reports its exit status.
_EXIT_STATUS_WAIT_S: Final = 1.0

_log = logging.getLogger(__name__)
_numbers = itertools.count()
_preloaded: set[str] = set()
_preload_lock: Final = threading.Lock()

_State: TypeAlias = Literal["open", "closing", "closed", "terminated", "broken"]
_Context: TypeAlias = ForkServerContext | SpawnContext | ForkContext


@final
class _Worker:
    __slots__ = ("conn", "name", "pid", "process", "sentinel")

    def __init__(self, conn: Connection, process: BaseProcess) -> None:
        self.conn = conn
        self.process = process
        self.name = process.name
        self.pid = process.pid or 0
        self.sentinel = process.sentinel

    def __repr__(self) -> str:
        return f"{self.name} (pid {self.pid})"


@final
class ProcessPool(ClosesOnExit):
    """``workers`` processes that run module-level functions on picklable items.

    A context manager: leaving normally closes the pool, leaving with an exception (a
    cancellation included) terminates it. ``grace_s`` is how long terminate() waits between
    SIGTERM and SIGKILL; ``preload`` names modules the workers import before any task;
    ``context`` is the multiprocessing start method.
    """

    __slots__ = (
        "_grace_s",
        "_map_lock",
        "_proc_lock",
        "_reason",
        "_released",
        "_state",
        "_state_lock",
        "_stop_lock",
        "_workers",
    )

    def __init__(
        self,
        workers: int,
        *,
        grace_s: float = 1.0,
        preload: Sequence[str] = (),
        context: str = "forkserver",
    ) -> None:
        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        if grace_s < 0:
            raise ValueError(f"grace_s must be at least 0, got {grace_s}")
        ctx = _context(context, tuple(preload))
        self._grace_s = grace_s
        self._state: _State = "open"
        self._reason = "open"
        self._released = False
        # Lock order: map, stop, proc. map: one map() at a time, and it owns the pipes meanwhile.
        # stop: one SIGTERM-grace-SIGKILL sequence at a time. proc: the Process objects, since
        # two threads polling one forkserver child race to read its exit status.
        self._state_lock = threading.Lock()
        self._map_lock = threading.Lock()
        self._stop_lock = threading.Lock()
        self._proc_lock = threading.Lock()
        self._workers: list[_Worker] = []
        try:
            for _ in range(workers):
                self._workers.append(_start(ctx, tuple(preload)))
            for worker in self._workers:
                _await_ready(worker)
        except BaseException:
            self.terminate()
            raise

    @property
    def pids(self) -> tuple[int, ...]:
        """The workers' process ids, kept after they exit."""
        return tuple(worker.pid for worker in self._workers)

    def map(self, fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
        """Run ``fn(item)`` for every item on the workers; return the results in order.

        ``fn`` and the items travel by pickle: ``fn`` must be a module-level function, and a
        large array should travel as a :class:`SharedSpec`. Blocks the calling thread (call it
        through ``anyio.to_thread.run_sync``); concurrent calls take turns. The first task to
        raise stops the hand-out, the tasks already running finish, then its exception is raised
        with its own type and the worker's traceback as a note (:class:`TaskFailed` if it will
        not unpickle). A worker that dies raises :class:`WorkerCrashed` and breaks the pool: the
        other workers are terminated. :meth:`terminate` from another thread raises
        :class:`PoolClosed` here.
        """
        # Pickle every task before sending any: one that won't pickle is the caller's error,
        # raised here with nothing half done.
        blobs = [pickle.dumps((fn, item), protocol=pickle.HIGHEST_PROTOCOL) for item in items]
        with self._map_lock:
            self._check_open()
            return cast("list[R]", self._run(blobs))

    def close(self) -> None:
        """Orderly stop: refuse new work, let a running map() finish, join every worker.

        Idle workers are asked to stop; any still alive after :data:`STOP_TIMEOUT_S` is
        terminated. Idempotent.
        """
        with self._state_lock:
            if self._state == "open":
                self._state, self._reason = "closing", "closed"
        with self._map_lock:
            self._stop_gently()
            self._release()
        with self._state_lock:
            if self._state == "closing":
                self._state = "closed"

    def terminate(self) -> None:
        """Cancellation: SIGTERM every worker, SIGKILL those alive after ``grace_s``, reap all.

        Call it from any thread but one blocked in map(): that map() wakes with
        :class:`PoolClosed`. Idempotent.
        """
        with self._state_lock:
            if self._state in ("closed", "terminated"):
                return
            if self._state != "broken":
                self._reason = "terminated"
            self._state = "terminated"
        self._stop_all()
        with self._map_lock:  # a map() woken by its workers' deaths lets go of the pipes
            self._release()

    def __repr__(self) -> str:
        return f"<ProcessPool {len(self._workers)} workers {self._state}>"

    def _check_open(self) -> None:
        if self._state != "open":
            raise PoolClosed(f"the pool is {self._reason}")

    def _run(self, blobs: list[bytes]) -> list[Any]:
        results: list[Any] = [None] * len(blobs)
        todo = deque(enumerate(blobs))
        idle = self._workers[::-1]
        busy: dict[Connection, tuple[_Worker, int]] = {}
        by_sentinel = {worker.sentinel: worker for worker in self._workers}
        failure: BaseException | None = None
        while busy or (todo and failure is None):
            while todo and idle and failure is None:
                worker = idle.pop()
                index, blob = todo.popleft()
                self._send(worker, index, blob)
                busy[worker.conn] = (worker, index)
            ready = wait([*busy, *by_sentinel])
            # Answers first: a worker that answers and then dies still delivered its answer.
            for conn in [r for r in ready if isinstance(r, Connection)]:
                worker, index = busy.pop(conn)
                ok, value = self._receive(worker, index)
                idle.append(worker)
                if ok:
                    results[index] = value
                elif failure is None:
                    failure = value
            for sentinel in [r for r in ready if isinstance(r, int)]:
                dead = by_sentinel[sentinel]
                running = [i for w, i in busy.values() if w is dead]
                raise self._broken(dead, running[0] if running else None)
        if failure is not None:
            raise failure
        return results

    def _send(self, worker: _Worker, index: int, blob: bytes) -> None:
        try:
            worker.conn.send((index, blob))
        except OSError:
            raise self._broken(worker, None) from None  # it died while idle

    def _receive(self, worker: _Worker, index: int) -> tuple[bool, Any]:
        try:
            data = worker.conn.recv_bytes()
        except (EOFError, OSError):
            raise self._broken(worker, index) from None
        try:
            _, ok, value = pickle.loads(data)
        except Exception as exc:  # a result of a class this process cannot import, say
            exc.add_note(f"unpickling the result of task {index} from {worker}")
            return False, exc
        if ok:
            return True, value
        return False, cast(Failure, value).exception(f"{worker}, task {index}")

    def _broken(self, worker: _Worker, index: int | None) -> RuntimeError:
        """Stop every worker after ``worker`` died, and say why."""
        with self._state_lock:
            if self._state == "terminated":
                return PoolClosed("the pool was terminated while map() was running")
            self._state = "broken"
        with self._proc_lock:
            worker.process.join(_EXIT_STATUS_WAIT_S)
            exitcode = worker.process.exitcode
        doing = "while idle" if index is None else f"while running task {index}"
        crash = WorkerCrashed(
            f"worker {worker} died with {describe_exit(exitcode)} {doing}",
            worker=worker.name,
            pid=worker.pid,
            exitcode=exitcode,
        )
        with self._state_lock:
            self._reason = f"broken: {crash}"
        self._stop_all()
        self._release()
        return crash

    def _stop_gently(self) -> None:
        if self._released:
            return
        for worker in self._workers:
            with suppress(OSError):  # one that already died has no reader
                worker.conn.send(None)
        self._wait_exit(self._workers, STOP_TIMEOUT_S)
        self._stop_all()  # reaps them all, and terminates any that did not stop in time

    def _stop_all(self) -> None:
        """SIGTERM every live worker, SIGKILL those alive after the grace period, reap them all.

        The shape of trio's ``_posix_deliver_cancel``, but logged rather than warned: a warning
        would be an error under ``-W error``, and a stubborn worker is not the caller's bug.
        """
        with self._stop_lock:
            with self._proc_lock:
                if self._released:
                    return
                live = [worker for worker in self._workers if worker.process.exitcode is None]
                for worker in live:
                    worker.process.terminate()
            stubborn = self._wait_exit(live, self._grace_s)
            with self._proc_lock:
                for worker in stubborn:
                    _log.warning(
                        "%s ignored SIGTERM for %.1f s: sending SIGKILL", worker, self._grace_s
                    )
                    worker.process.kill()
                for worker in self._workers:
                    worker.process.join()

    def _wait_exit(self, workers: list[_Worker], timeout: float) -> list[_Worker]:
        """Wait up to ``timeout`` for ``workers`` to exit; return those still alive."""
        deadline = time.monotonic() + timeout
        while True:
            with self._proc_lock:
                workers = [worker for worker in workers if worker.process.exitcode is None]
            left = deadline - time.monotonic()
            if not workers or left <= 0:
                return workers
            # Waits on the sentinels without reading them, so it needs no lock.
            wait([worker.sentinel for worker in workers], timeout=left)

    def _release(self) -> None:
        """Close the pipes and the Process objects (their sentinels). Needs map() excluded."""
        with self._stop_lock, self._proc_lock:
            if self._released:
                return
            self._released = True
            for worker in self._workers:
                worker.conn.close()
                worker.process.close()


def _start(ctx: _Context, preload: tuple[str, ...]) -> _Worker:
    parent_end, child_end = ctx.Pipe(duplex=True)
    name = f"fanout-worker-{next(_numbers)}"
    process = ctx.Process(target=serve, args=(child_end, preload), name=name, daemon=True)
    try:
        process.start()
    except BaseException:
        parent_end.close()
        raise
    finally:
        # The child has its own copy. Ours would keep the pipe open after the child died, and
        # the parent would wait for an answer from a dead worker instead of reading EOF.
        child_end.close()
    return _Worker(parent_end, process)


def _await_ready(worker: _Worker) -> None:
    """Wait until the worker has started and imported its modules.

    Forking from a server that holds numba takes tens of milliseconds; without this the first
    map() would pay for it, and a run would time its pool's start-up as its first dispatch.
    """
    wait([worker.conn, worker.process.sentinel])
    try:
        hello = worker.conn.recv_bytes()
    except (EOFError, OSError):
        hello = b""
    if hello != READY:
        worker.process.join(1.0)
        raise WorkerCrashed(
            f"worker {worker.process.name} died while starting, with "
            f"{describe_exit(worker.process.exitcode)}",
            worker=worker.process.name or "",
            pid=worker.process.pid,
            exitcode=worker.process.exitcode,
        )


def _context(method: str, preload: tuple[str, ...]) -> _Context:
    methods = multiprocessing.get_all_start_methods()
    ctx = multiprocessing.get_context(method) if method in methods else None
    if not isinstance(ctx, ForkServerContext | SpawnContext | ForkContext):
        raise ValueError(f"unknown start method {method!r}: choose one of {', '.join(methods)}")
    for name in preload:
        _check_importable(name)
    if method == "forkserver" and preload:
        with _preload_lock:
            # Every module any pool asked for, should the server (re)start now; "__main__" is
            # the default list, kept.
            _preloaded.update(preload)
            ctx.set_forkserver_preload(["__main__", *sorted(_preloaded)])
    return ctx


def _check_importable(name: str) -> None:
    try:
        found = importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise ValueError(f"preload module {name!r} cannot be imported: no such module")
