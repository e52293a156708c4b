"""Item 55's pipeline, kept as a working fallback: stages of worker threads between queues.

The book's version busy-waits, cannot be stopped, and jams when a stage falls behind. This one
keeps its shape - a :class:`ClosableQueue` between stages, :class:`StoppableWorker` threads on
each - and drops the troubles:

- the queues are bounded (a slow stage holds the ones before it back; nothing piles up) and
  a thread waiting on one sleeps on a condition, it never polls;
- the end of the input ripples down: once a stage's inbox is closed and drained and its
  workers have ended, its outbox is closed in turn;
- an item whose call raises stops there and is reported with its stage and error, and the
  others go on; anything else a worker meets reaches the caller;
- ``check`` is called while the caller waits: when it raises (a cancelled run), ``on_stop``
  is called, every queue is aborted and every thread joined before the error goes up.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Final, final

from adapters._threads.closable import ClosableQueue, QueueClosed
from adapters._threads.outcome import Done, Outcome
from adapters._threads.workers import StoppableWorker, start_workers, stop_workers

__all__ = ["Dropped", "Passed", "ThreadStage", "run_thread_pipeline"]

_POLL_S: Final = 0.05


@final
@dataclass(frozen=True, slots=True)
class ThreadStage:
    """``workers`` threads apply ``call``; an exception it raises drops the item here."""

    name: str
    call: Callable[[object], object]
    workers: int = 1


@final
@dataclass(frozen=True, slots=True)
class Passed:
    """An item that went through every stage: the last one's result."""

    index: int
    value: object


@final
@dataclass(frozen=True, slots=True)
class Dropped:
    """An item a stage's call failed on: the stage and the exception."""

    index: int
    stage: str
    error: Exception


_Entry = Passed | Dropped


def run_thread_pipeline(
    stages: Sequence[ThreadStage],
    items: Iterable[object],
    *,
    buffer: int,
    check: Callable[[], None] = lambda: None,
    on_stop: Callable[[], None] = lambda: None,
) -> list[_Entry]:
    """Run every item through every stage; one entry per item, in the order they finished."""
    if not stages:
        raise ValueError("a pipeline needs at least one stage")
    queues: list[ClosableQueue[Outcome[_Entry]]] = [
        ClosableQueue(max(1, buffer)) for _ in range(len(stages) + 1)
    ]
    crews = [
        start_workers(
            stage.workers, _step(stage), queues[k], queues[k + 1], name=f"pipeline-{stage.name}"
        )
        for k, stage in enumerate(stages)
    ]
    failures: list[BaseException] = []
    feeder = threading.Thread(
        target=_feed, args=(items, queues, crews, failures), name="pipeline-feeder", daemon=False
    )
    feeder.start()
    try:
        entries = _collect(queues[-1], check)
        feeder.join()
        if failures:
            raise failures[0]  # the items' own iterator failed
        return entries
    except BaseException:
        on_stop()
        for queue in queues:
            queue.abort()
        for inbox, crew in zip(queues, crews, strict=False):
            stop_workers(inbox, crew, cancel=True)
        raise
    finally:
        feeder.join()


def _step(stage: ThreadStage) -> Callable[[Outcome[_Entry]], _Entry]:
    def step(outcome: Outcome[_Entry]) -> _Entry:
        entry = outcome.unwrap()  # a worker's own failure goes on as itself
        if isinstance(entry, Dropped):
            return entry  # failed upstream: passed through untouched
        try:
            return Passed(entry.index, stage.call(entry.value))
        except Exception as error:
            return Dropped(entry.index, stage.name, error)

    return step


def _feed(
    items: Iterable[object],
    queues: list[ClosableQueue[Outcome[_Entry]]],
    crews: list[list[StoppableWorker[Outcome[_Entry], _Entry]]],
    failures: list[BaseException],
) -> None:
    """Put the items in, then close each stage's outbox once its workers have ended."""
    try:
        for index, item in enumerate(items):
            queues[0].put(Done(Passed(index, item)))
    except QueueClosed:  # aborted: the run is being stopped
        return
    except BaseException as error:  # the iterator's own: end the run, hand it to the caller
        failures.append(error)
        for queue in queues:
            queue.abort()
        return
    for k, crew in enumerate(crews):
        stop_workers(queues[k], crew)  # closes the inbox, lets them drain it, joins them
        queues[k + 1].close()


def _collect(results: ClosableQueue[Outcome[_Entry]], check: Callable[[], None]) -> list[_Entry]:
    entries: list[_Entry] = []
    while True:
        check()
        try:
            outcome = results.get(timeout=_POLL_S)
        except queue.Empty:
            continue
        except QueueClosed:  # closed and drained: every item is through
            return entries
        entries.append(outcome.unwrap())
