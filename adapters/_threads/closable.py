"""A bounded FIFO between threads that can be closed, waking every waiter.

``queue.Queue`` on Python 3.11 cannot be closed: a thread blocked in ``get`` or ``put`` wakes only
for an item or a free slot. The book's answer (one SENTINEL per consumer) needs to know how many
consumers there are, and its ``close`` itself blocks when the queue is full. This queue is built
the way ``queue.Queue`` is inside (a deque, one lock, two conditions) plus a ``closed`` flag that
every wait predicate checks, so ``close`` and ``abort`` wake all getters and putters at once and
never block. It mirrors ``queue.Queue.shutdown`` of Python 3.13.
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar, final

__all__ = ["ClosableQueue", "QueueClosed"]

T = TypeVar("T")


class QueueClosed(RuntimeError):
    """Raised when putting into a closed queue, or getting from one that is closed and drained."""


def _never() -> bool:
    return False


@final
class ClosableQueue(Generic[T]):
    """A FIFO of at most ``maxsize`` items; ``for item in q`` ends once it is closed and drained.

    ``put`` blocks while the queue is full and ``get`` while it is empty (both accept a timeout and
    then raise ``queue.Full`` / ``queue.Empty``). Blocked threads sleep on a condition: nothing
    polls. ``close`` lets consumers drain what is queued; ``abort`` discards it, for cancellation.
    """

    __slots__ = ("_closed", "_items", "_lock", "_maxsize", "_not_empty", "_not_full")

    def __init__(self, maxsize: int) -> None:
        if maxsize < 1:
            raise ValueError(
                f"maxsize must be >= 1, got {maxsize}; "
                "use ClosableQueue.unbounded() for a queue without a bound"
            )
        self._init(maxsize)

    @classmethod
    def unbounded(cls) -> ClosableQueue[T]:
        """Return a queue without a bound: ``put`` never blocks. Ask for it on purpose."""
        self = cls.__new__(cls)
        self._init(0)
        return self

    def _init(self, maxsize: int) -> None:
        self._maxsize = maxsize
        self._items: deque[T] = deque()
        self._closed = False
        # One lock under both conditions, so a state change and its notification are atomic.
        self._lock = threading.Lock()
        self._not_empty = threading.Condition(self._lock)
        self._not_full = threading.Condition(self._lock)

    @property
    def maxsize(self) -> int:
        """The bound; 0 for an unbounded queue."""
        return self._maxsize

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` or :meth:`abort` was called."""
        return self._closed

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def __repr__(self) -> str:
        bound = self._maxsize or "inf"
        state = "closed" if self._closed else "open"
        return f"<ClosableQueue {len(self._items)}/{bound} {state}>"

    def put(self, item: T, *, timeout: float | None = None) -> None:
        """Append ``item``, waiting up to ``timeout`` seconds (None: forever) for a free slot.

        Raises ``QueueClosed`` if the queue is (or becomes, while waiting) closed; ``queue.Full``
        on timeout.
        """
        self._put(item, timeout, _never)

    def get(self, *, timeout: float | None = None) -> T:
        """Remove and return the oldest item, waiting up to ``timeout`` seconds for one.

        Raises ``QueueClosed`` once the queue is closed and drained; ``queue.Empty`` on timeout.
        """
        return self._get(timeout, _never)

    def __iter__(self) -> Iterator[T]:
        """Yield items until the queue is closed and drained; any number of threads may iterate."""
        while True:
            try:
                item = self._get(None, _never)
            except QueueClosed:
                return
            yield item

    def close(self) -> None:
        """Refuse further puts; consumers drain what is queued, then stop. Idempotent."""
        with self._lock:
            self._closed = True
            self._notify_all()

    def abort(self) -> list[T]:
        """Close and discard every queued item, returned oldest first. Idempotent.

        Wakes blocked putters (they raise ``QueueClosed``) as well as consumers, so a producer
        stuck on a full queue whose consumers went away is never left hanging.
        """
        with self._lock:
            self._closed = True
            dropped = list(self._items)
            self._items.clear()
            self._notify_all()
        return dropped

    def _put(self, item: T, timeout: float | None, give_up: Callable[[], bool]) -> None:
        # ``give_up`` lets a StoppableWorker leave a wait as if the queue were closed, for itself
        # alone; it calls ``_wake`` after turning it true, and the predicate below sees it.
        _check_timeout(timeout)
        with self._lock:
            if not self._not_full.wait_for(lambda: self._room() or give_up(), timeout):
                raise queue.Full(f"queue still full ({self._maxsize} items) after {timeout} s")
            if self._closed:
                raise QueueClosed("cannot put into a closed queue")
            if not self._room():
                raise QueueClosed("gave up waiting for room in the queue")
            self._items.append(item)
            self._not_empty.notify()

    def _get(self, timeout: float | None, give_up: Callable[[], bool]) -> T:
        _check_timeout(timeout)
        with self._lock:
            ready = lambda: bool(self._items) or self._closed or give_up()  # noqa: E731  # one line reads better than a def
            if not self._not_empty.wait_for(ready, timeout):
                raise queue.Empty(f"queue still empty after {timeout} s")
            if not self._items:
                raise QueueClosed("the queue is closed and drained")
            if give_up():
                # The put that woke us meant its item for a consumer: pass the wake-up on.
                self._not_empty.notify()
                raise QueueClosed("gave up waiting for an item")
            item = self._items.popleft()
            self._not_full.notify()
            return item

    def _room(self) -> bool:
        # A closed queue counts as "room": the putter wakes up to raise QueueClosed.
        return self._closed or self._maxsize == 0 or len(self._items) < self._maxsize

    def _wake(self) -> None:
        # For StoppableWorker.stop: waiters re-check their predicates, and so their ``give_up``.
        with self._lock:
            self._notify_all()

    def _notify_all(self) -> None:
        # The caller holds the lock.
        self._not_empty.notify_all()
        self._not_full.notify_all()


def _check_timeout(timeout: float | None) -> None:
    if timeout is not None and timeout < 0:
        raise ValueError(f"timeout must be >= 0 or None, got {timeout}")
