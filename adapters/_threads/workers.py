"""Worker threads between closable queues: item 55's StoppableWorker, made safe to stop."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar, final

from adapters._threads.closable import ClosableQueue, QueueClosed
from adapters._threads.outcome import Done, Failed, Outcome

__all__ = ["StoppableWorker", "WorkersStillRunning", "start_workers", "stop_workers"]

T = TypeVar("T")
R = TypeVar("R")


class WorkersStillRunning(TimeoutError):
    """Raised when worker threads are still running once ``stop_workers``' timeout is over."""

    def __init__(self, names: Sequence[str], timeout: float) -> None:
        self.names = tuple(names)
        super().__init__(
            f"{len(self.names)} worker thread(s) still running after {timeout} s: "
            f"{', '.join(self.names)}"
        )


# A Thread subclass has a __dict__ whatever we declare, so __slots__ would buy nothing here.
@final
class StoppableWorker(threading.Thread, Generic[T, R]):
    """A thread that applies ``func`` to each item of ``inbox`` and puts the outcome in ``outbox``.

    An exception from ``func`` becomes ``Failed(error)`` for the consumer; the thread goes on with
    the next item. The thread ends when ``inbox`` is closed and drained, when ``outbox`` is closed
    (nobody downstream), or after :meth:`stop`. It never closes ``outbox`` itself: other workers
    may share it, so whoever joined them all (see :func:`stop_workers`) closes it.
    """

    def __init__(
        self,
        func: Callable[[T], R],
        inbox: ClosableQueue[T],
        outbox: ClosableQueue[Outcome[R]],
        *,
        name: str,
    ) -> None:
        # Not a daemon: the interpreter must not exit under a thread in the middle of an item.
        super().__init__(name=name, daemon=False)
        self._func = func
        self._inbox = inbox
        self._outbox = outbox
        # Named "_halt": Thread already owns "_stop" and "_started".
        self._halt = threading.Event()

    @property
    def stopping(self) -> bool:
        """Whether :meth:`stop` was called."""
        return self._halt.is_set()

    def stop(self) -> None:
        """Ask the thread to end after the item in hand; it takes no further item. Idempotent.

        Threads cannot be interrupted, so a running ``func`` finishes first; its outcome is
        still delivered if ``outbox`` has room, and dropped rather than waited for if not.
        A thread idle on an empty ``inbox`` ends at once.
        """
        self._halt.set()
        # The thread may sleep inside either queue; waking them makes it re-check the event.
        self._inbox._wake()
        self._outbox._wake()

    def run(self) -> None:
        try:
            while True:
                item = self._inbox._get(None, self._halt.is_set)
                self._outbox._put(self._apply(item), None, self._halt.is_set)
        except QueueClosed:
            return

    def _apply(self, item: T) -> Outcome[R]:
        try:
            return Done(self._func(item))
        # BaseException too: anything that escaped would end the thread silently and leave the
        # consumer waiting for an outcome that never comes.
        except BaseException as exc:
            return Failed(exc)


def start_workers(
    count: int,
    func: Callable[[T], R],
    inbox: ClosableQueue[T],
    outbox: ClosableQueue[Outcome[R]],
    *,
    name: str,
) -> list[StoppableWorker[T, R]]:
    """Start ``count`` workers on the same queues, named ``{name}-0``, ``{name}-1``, ..."""
    if count < 1:
        raise ValueError(f"count must be >= 1, got {count}")
    workers = [
        StoppableWorker(func, inbox, outbox, name=f"{name}-{index}") for index in range(count)
    ]
    for worker in workers:
        worker.start()
    return workers


def stop_workers(
    inbox: ClosableQueue[T],
    workers: Sequence[StoppableWorker[T, R]],
    *,
    timeout: float | None = None,
    cancel: bool = False,
) -> None:
    """Close ``inbox`` and join every worker, all within ``timeout`` seconds (None: no limit).

    By default the workers drain what is queued first. With ``cancel=True`` the queued items are
    discarded and every worker stops after the item in hand. Raises ``WorkersStillRunning``
    naming the threads still alive when the time is up.
    """
    if cancel:
        inbox.abort()
        for worker in workers:
            worker.stop()
    else:
        inbox.close()
    deadline = None if timeout is None else time.monotonic() + timeout
    for worker in workers:
        worker.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
    alive = [worker.name for worker in workers if worker.is_alive()]
    if alive:
        assert timeout is not None  # without a timeout, join() returned only once each ended
        raise WorkersStillRunning(alive, timeout)
