"""AsyncProcessPool: worker processes for async code, one task at a time each, cancellable.

:class:`ProcessPool` serves a thread that blocks in ``map``; this pool serves tasks of an
event loop (asyncio or trio), each awaiting one function call in a process of its own. The
workers are the same forkserver children running the same loop (``worker.serve``), so a task
costs the event loop a pickle, a write and a read, and its work takes nothing of the calling
process's GIL: the loop goes on serving while the worker computes.

Workers start when a call first needs one, and stay for the next calls. ``nice`` lowers their
scheduling priority below the caller's: on a machine with more runnable threads than cores, the
kernel then gives the caller's event loop the core first, and the workers what is left; on an
idle machine they run at full speed all the same. A call that is
cancelled (or whose worker dies) takes its worker with it: the worker is killed (SIGKILL: it
holds nothing that needs cleaning, the caller owns its files) and reaped, and the next call
forks a fresh one. ``aclose`` stops the idle workers and waits for them; a call still running
by then is killed too.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Callable, Sequence
from contextlib import suppress
from typing import Final, cast, final

import anyio
from anyio import to_thread

from adapters._processes.errors import PoolClosed, WorkerCrashed, describe_exit
from adapters._processes.process_pool import (
    STOP_TIMEOUT_S,
    _await_ready,
    _context,
    _start,
    _Worker,
)
from adapters._processes.protocol import R, T
from adapters._processes.worker import Failure

__all__ = ["AsyncProcessPool"]

# A task bigger than a pipe's buffer would block the event loop until the worker read it all:
# such a task is written from a worker thread.
_INLINE_BYTES: Final = 48 * 1024
_EXIT_WAIT_S: Final = 1.0
_MAX_NICE: Final = 19


@final
class AsyncProcessPool:
    """At most ``workers`` processes, each running one task at a time for an async caller.

    ``preload`` names modules the workers import before their first task (the forkserver
    imports them once, and forks workers that have them); ``nice`` is added to this process's
    niceness for them (0 to 19); ``context`` is the start method.
    """

    __slots__ = ("_closed", "_context", "_idle", "_nice", "_preload", "_running", "_slots")

    def __init__(
        self,
        workers: int,
        *,
        preload: Sequence[str] = (),
        nice: int = 0,
        context: str = "forkserver",
    ) -> None:
        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        if not 0 <= nice <= _MAX_NICE:
            raise ValueError(f"nice must be 0 to {_MAX_NICE}, got {nice}")
        self._nice = nice
        self._preload = tuple(preload)
        self._context = _context(context, self._preload)
        self._slots = anyio.Semaphore(workers)
        self._idle: list[_Worker] = []
        self._running: set[_Worker] = set()
        self._closed = False

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"{len(self._idle)} idle, {len(self._running)} busy"
        return f"<AsyncProcessPool {state}>"

    @property
    def pids(self) -> tuple[int, ...]:
        """The process ids of the workers alive now, idle or busy."""
        return tuple(worker.pid for worker in (*self._idle, *self._running))

    async def run(self, fn: Callable[[T], R], item: T) -> R:
        """``fn(item)`` in a worker process; its result, or its exception with its own type.

        ``fn`` must be a module-level function and ``item`` picklable. Waits for a free worker
        when all are busy. Raises :class:`WorkerCrashed` if the worker dies meanwhile,
        :class:`PoolClosed` once the pool is closed; cancelling the caller kills the worker.
        """
        blob = pickle.dumps((fn, item), protocol=pickle.HIGHEST_PROTOCOL)
        async with self._slots:
            self._check_open()
            worker = self._idle.pop() if self._idle else await self._start()
            self._running.add(worker)
            answer: bytes | None = None
            try:
                answer = await self._exchange(worker, blob)
            finally:
                self._running.discard(worker)
                if answer is not None and not self._closed:
                    self._idle.append(worker)
                else:
                    with anyio.CancelScope(shield=True):
                        await _kill(worker)
        _, ok, value = pickle.loads(answer)
        if ok:
            return cast(R, value)
        raise cast(Failure, value).exception(f"{worker}")

    async def aclose(self) -> None:
        """Take no new task; stop the idle workers (ask, then kill past a timeout) and reap
        them. A task still running is killed with its worker and raises PoolClosed."""
        self._closed = True
        idle, self._idle = self._idle, []
        for worker in list(self._running):
            worker.process.kill()  # its task reaps it, then raises
        with anyio.CancelScope(shield=True):
            await to_thread.run_sync(_stop_idle, idle)

    def _check_open(self) -> None:
        if self._closed:
            raise PoolClosed("the pool is closed")

    async def _start(self) -> _Worker:
        def started() -> _Worker:
            worker = _start(self._context, self._preload)
            try:
                if self._nice:
                    mine = os.getpriority(os.PRIO_PROCESS, 0)
                    os.setpriority(os.PRIO_PROCESS, worker.pid, min(_MAX_NICE, mine + self._nice))
                _await_ready(worker)
            except BaseException:
                worker.process.kill()
                _reap(worker)
                raise
            return worker

        return await to_thread.run_sync(started)

    async def _exchange(self, worker: _Worker, blob: bytes) -> bytes:
        """Send one task and wait for its answer; the answer's bytes."""
        try:
            if len(blob) > _INLINE_BYTES:
                await to_thread.run_sync(worker.conn.send, (0, blob))
            else:
                worker.conn.send((0, blob))
            # A dead worker's end of the pipe closes: EOF wakes this wait as an answer would.
            await anyio.wait_readable(worker.conn.fileno())
            return worker.conn.recv_bytes()
        except (EOFError, OSError):
            pass
        if self._closed:
            raise PoolClosed("the pool was closed while the task ran")
        await to_thread.run_sync(worker.process.join, _EXIT_WAIT_S)
        raise WorkerCrashed(
            f"worker {worker} died with {describe_exit(worker.process.exitcode)} while running "
            "a task",
            worker=worker.name,
            pid=worker.pid,
            exitcode=worker.process.exitcode,
        )


async def _kill(worker: _Worker) -> None:
    """SIGKILL ``worker`` if it still runs, reap it and close its pipe."""
    if worker.process.exitcode is None:
        worker.process.kill()
    await to_thread.run_sync(_reap, worker)


def _reap(worker: _Worker) -> None:
    worker.process.join()
    worker.conn.close()
    worker.process.close()


def _stop_idle(workers: list[_Worker]) -> None:
    """Ask each idle worker to stop, wait up to ``STOP_TIMEOUT_S``, kill the rest, reap all."""
    for worker in workers:
        with suppress(OSError):  # one that died while idle is reaped below
            worker.conn.send(None)
    for worker in workers:
        worker.process.join(STOP_TIMEOUT_S)
        if worker.process.exitcode is None:
            worker.process.kill()
        _reap(worker)
