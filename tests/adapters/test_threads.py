"""The thread toolkit: closable queues, stoppable workers, locked counters, blocking calls.

Nothing here asserts a duration: overlap is shown with barriers, blocking with events, and
every wait has a timeout so that a failure ends the test instead of hanging it.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from functools import partial

import anyio
import pytest

from adapters.threads import (
    BlockingRunner,
    ClosableQueue,
    Done,
    Failed,
    LockCounter,
    Outcome,
    PeakGauge,
    QueueClosed,
    StoppableWorker,
    WorkersStillRunning,
    run_blocking,
    start_workers,
    stop_workers,
)

WAIT = 5.0  # seconds: only ever reached when something is broken


@pytest.fixture
def spawn() -> Iterator[Callable[[Callable[[], object]], threading.Thread]]:
    """Start helper threads; on teardown, check that every one of them has ended."""
    started: list[threading.Thread] = []

    def start(target: Callable[[], object]) -> threading.Thread:
        thread = threading.Thread(target=target, name=f"test-helper-{len(started)}")
        started.append(thread)
        thread.start()
        return thread

    yield start
    for thread in started:
        thread.join(WAIT)
    assert not [thread.name for thread in started if thread.is_alive()]


Spawn = Callable[[Callable[[], object]], threading.Thread]


def drained(q: ClosableQueue[Outcome[int]]) -> list[int]:
    q.close()
    return [outcome.unwrap() for outcome in q]


def alive_named(*prefixes: str) -> list[str]:
    return [thread.name for thread in threading.enumerate() if thread.name.startswith(prefixes)]


# ClosableQueue


def test_items_come_out_in_the_order_they_went_in() -> None:
    q: ClosableQueue[int] = ClosableQueue(5)
    for n in range(5):
        q.put(n)
    assert [q.get() for _ in range(5)] == [0, 1, 2, 3, 4]


def test_a_full_queue_times_out_a_put_and_an_empty_one_a_get() -> None:
    q: ClosableQueue[str] = ClosableQueue(2)
    q.put("a")
    q.put("b")
    with pytest.raises(queue.Full, match="still full"):
        q.put("c", timeout=0.01)
    assert [q.get(), q.get()] == ["a", "b"]
    with pytest.raises(queue.Empty, match="still empty"):
        q.get(timeout=0.01)


def test_put_blocks_until_a_slot_frees(spawn: Spawn) -> None:
    q: ClosableQueue[int] = ClosableQueue(1)
    q.put(1)
    put_done = threading.Event()

    def produce() -> None:
        q.put(2)
        put_done.set()

    spawn(produce)
    assert not put_done.wait(0.05)
    assert q.get() == 1
    assert put_done.wait(WAIT)
    assert q.get() == 2


def test_close_wakes_every_consumer_after_the_queue_drains(spawn: Spawn) -> None:
    q: ClosableQueue[int] = ClosableQueue(3)
    taken: list[list[int]] = [[] for _ in range(4)]
    consumers = [spawn(partial(mine.extend, q)) for mine in taken]
    for n in range(20):
        q.put(n)
    q.close()
    for consumer in consumers:
        consumer.join(WAIT)
    assert not any(consumer.is_alive() for consumer in consumers)
    assert sorted(n for mine in taken for n in mine) == list(range(20))
    assert all(mine == sorted(mine) for mine in taken)


def test_consumers_blocked_on_an_empty_queue_use_no_cpu(spawn: Spawn) -> None:
    q: ClosableQueue[int] = ClosableQueue(1)
    waiting = [threading.Event() for _ in range(2)]
    cpu_seconds: list[float] = []

    def consume(ready: threading.Event) -> None:
        before = time.thread_time()
        ready.set()
        assert list(q) == []
        cpu_seconds.append(time.thread_time() - before)

    for ready in waiting:
        spawn(partial(consume, ready))
    assert all(ready.wait(WAIT) for ready in waiting)
    time.sleep(0.3)  # a polling consumer would burn a good part of this in CPU time
    q.close()
    while len(cpu_seconds) < len(waiting):
        time.sleep(0.01)
    assert max(cpu_seconds) < 0.05


def test_a_closed_queue_refuses_puts_but_can_be_drained() -> None:
    q: ClosableQueue[int] = ClosableQueue(3)
    q.put(1)
    q.close()
    q.close()  # idempotent
    assert q.closed
    with pytest.raises(QueueClosed, match="closed"):
        q.put(2)
    assert list(q) == [1]
    with pytest.raises(QueueClosed, match="closed and drained"):
        q.get()


def test_close_wakes_a_producer_blocked_on_a_full_queue(spawn: Spawn) -> None:
    q: ClosableQueue[int] = ClosableQueue(1)
    q.put(1)
    raised: list[BaseException] = []
    blocked = threading.Event()

    def produce() -> None:
        blocked.set()
        try:
            q.put(2)
        except QueueClosed as exc:
            raised.append(exc)

    producer = spawn(produce)
    assert blocked.wait(WAIT)
    q.close()
    producer.join(WAIT)
    assert len(raised) == 1
    assert list(q) == [1]


def test_abort_discards_items_and_wakes_a_blocked_producer(spawn: Spawn) -> None:
    q: ClosableQueue[int] = ClosableQueue(2)
    q.put(1)
    q.put(2)
    raised: list[BaseException] = []
    blocked = threading.Event()

    def produce() -> None:
        blocked.set()
        try:
            q.put(3)
        except QueueClosed as exc:
            raised.append(exc)

    producer = spawn(produce)
    assert blocked.wait(WAIT)
    assert q.abort() == [1, 2]
    producer.join(WAIT)
    assert len(raised) == 1
    assert len(q) == 0
    assert list(q) == []
    assert q.abort() == []


def test_a_bound_is_required_unless_asked_for_none() -> None:
    with pytest.raises(ValueError, match=r"maxsize must be >= 1, got 0; use .*unbounded"):
        ClosableQueue[int](0)
    q: ClosableQueue[int] = ClosableQueue.unbounded()
    for n in range(1000):
        q.put(n, timeout=0)
    assert (q.maxsize, len(q)) == (0, 1000)
    assert repr(q) == "<ClosableQueue 1000/inf open>"


def test_timeouts_are_checked_and_repr_is_short() -> None:
    q: ClosableQueue[int] = ClosableQueue(4)
    with pytest.raises(ValueError, match="timeout must be >= 0 or None, got -1"):
        q.get(timeout=-1)
    q.put(7)
    q.close()
    assert repr(q) == "<ClosableQueue 1/4 closed>"


# StoppableWorker and its helpers


def test_three_stages_of_three_workers_deliver_every_item(spawn: Spawn) -> None:
    # Item 55's download / resize / upload, but on bounded queues: the feeder, the workers and
    # the consumer below must all run at once, and closing flows down stage by stage.
    jobs: ClosableQueue[int] = ClosableQueue(4)
    fetched: ClosableQueue[Outcome[int]] = ClosableQueue(4)
    resized: ClosableQueue[Outcome[int]] = ClosableQueue(4)
    done: ClosableQueue[Outcome[int]] = ClosableQueue(4)

    def resize(o: Outcome[int]) -> int:
        return o.unwrap() + 1

    def upload(o: Outcome[int]) -> int:
        return o.unwrap() * 2

    def download(n: int) -> int:
        return n * 10

    downloaders = start_workers(3, download, jobs, fetched, name="download")
    resizers = start_workers(3, resize, fetched, resized, name="resize")
    uploaders = start_workers(3, upload, resized, done, name="upload")

    def feed_then_shut_down() -> None:
        try:
            for n in range(100):
                jobs.put(n)
            stop_workers(jobs, downloaders, timeout=WAIT)
            stop_workers(fetched, resizers, timeout=WAIT)
            stop_workers(resized, uploaders, timeout=WAIT)
        finally:
            done.close()  # even on failure, so that the loop below ends

    spawn(feed_then_shut_down)
    results = sorted(outcome.unwrap() for outcome in done)
    assert results == [(n * 10 + 1) * 2 for n in range(100)]
    assert not alive_named("download-", "resize-", "upload-")


def test_an_exception_reaches_the_consumer_as_failed() -> None:
    def invert(n: int) -> float:
        return 1 / n

    inbox: ClosableQueue[int] = ClosableQueue(4)
    outbox: ClosableQueue[Outcome[float]] = ClosableQueue(4)
    for n in (2, 0, 4):
        inbox.put(n)
    workers = start_workers(1, invert, inbox, outbox, name="invert")
    stop_workers(inbox, workers, timeout=WAIT)
    outbox.close()
    first, second, third = outbox
    assert first == Done(0.5)
    assert isinstance(second, Failed)
    assert isinstance(second.error, ZeroDivisionError)
    assert repr(second) == "<Failed ZeroDivisionError('division by zero')>"
    with pytest.raises(ZeroDivisionError):
        second.unwrap()
    assert third == Done(0.25)
    assert repr(third) == "<Done float>"


def test_stop_ends_an_idle_worker_at_once() -> None:
    inbox: ClosableQueue[int] = ClosableQueue(2)
    outbox: ClosableQueue[Outcome[int]] = ClosableQueue(2)
    [worker] = start_workers(1, abs, inbox, outbox, name="idle")
    worker.stop()
    worker.join(WAIT)
    assert not worker.is_alive()
    assert worker.stopping
    assert not inbox.closed


def test_stopping_one_worker_leaves_its_peers_every_item() -> None:
    inbox: ClosableQueue[int] = ClosableQueue(4)
    outbox: ClosableQueue[Outcome[int]] = ClosableQueue.unbounded()
    stopped, peer = start_workers(2, abs, inbox, outbox, name="peer")
    stopped.stop()
    for n in range(-4, 0):
        inbox.put(n)
    stopped.join(WAIT)
    stop_workers(inbox, [peer], timeout=WAIT)
    assert sorted(drained(outbox)) == [1, 2, 3, 4]


def test_stop_takes_no_further_item_after_the_one_in_hand() -> None:
    started, release = threading.Event(), threading.Event()

    def slow(n: int) -> int:
        started.set()
        release.wait(WAIT)
        return n

    inbox: ClosableQueue[int] = ClosableQueue(5)
    outbox: ClosableQueue[Outcome[int]] = ClosableQueue(5)
    for n in range(5):
        inbox.put(n)
    [worker] = start_workers(1, slow, inbox, outbox, name="slow")
    assert started.wait(WAIT)
    worker.stop()
    release.set()
    worker.join(WAIT)
    assert not worker.is_alive()
    assert len(inbox) == 4
    assert drained(outbox) == [0]


def test_stop_frees_a_worker_blocked_on_a_full_outbox() -> None:
    computed = threading.Event()

    def mark(n: int) -> int:
        computed.set()
        return n

    inbox: ClosableQueue[int] = ClosableQueue(1)
    outbox: ClosableQueue[Outcome[int]] = ClosableQueue(1)
    outbox.put(Done(-1))
    inbox.put(1)
    [worker] = start_workers(1, mark, inbox, outbox, name="full")
    assert computed.wait(WAIT)
    worker.stop()
    worker.join(WAIT)
    assert not worker.is_alive()
    assert drained(outbox) == [-1]  # the outcome with nowhere to go was dropped


def test_a_worker_ends_when_its_outbox_is_aborted() -> None:
    inbox: ClosableQueue[int] = ClosableQueue(4)
    outbox: ClosableQueue[Outcome[int]] = ClosableQueue(1)
    for n in range(3):
        inbox.put(n)
    [worker] = start_workers(1, abs, inbox, outbox, name="orphan")
    # Whatever the worker reached, a closed outbox leaves it nothing to do.
    outbox.abort()
    worker.join(WAIT)
    assert not worker.is_alive()


def test_stop_workers_leaves_no_thread_behind() -> None:
    inbox: ClosableQueue[int] = ClosableQueue(8)
    outbox: ClosableQueue[Outcome[int]] = ClosableQueue.unbounded()
    workers = start_workers(4, abs, inbox, outbox, name="leftover")
    assert alive_named("leftover-") == [f"leftover-{i}" for i in range(4)]
    assert all(isinstance(worker, StoppableWorker) and not worker.daemon for worker in workers)
    for n in range(-8, 0):
        inbox.put(n)
    stop_workers(inbox, workers, timeout=WAIT)
    assert alive_named("leftover-") == []
    assert sorted(drained(outbox)) == list(range(1, 9))


def test_stop_workers_names_a_worker_that_does_not_stop_in_time() -> None:
    release = threading.Event()
    inbox: ClosableQueue[int] = ClosableQueue(1)
    outbox: ClosableQueue[Outcome[bool]] = ClosableQueue(1)
    inbox.put(1)
    workers = start_workers(1, lambda _: release.wait(WAIT), inbox, outbox, name="stuck")
    with pytest.raises(WorkersStillRunning, match=r"1 worker thread\(s\) .*: stuck-0") as caught:
        stop_workers(inbox, workers, timeout=0.01)
    assert caught.value.names == ("stuck-0",)
    release.set()
    stop_workers(inbox, workers, timeout=WAIT)


def test_stop_workers_with_cancel_discards_the_backlog() -> None:
    started, release = threading.Event(), threading.Event()

    def slow(n: int) -> int:
        started.set()
        release.wait(WAIT)
        return n

    inbox: ClosableQueue[int] = ClosableQueue(5)
    outbox: ClosableQueue[Outcome[int]] = ClosableQueue(5)
    for n in range(5):
        inbox.put(n)
    workers = start_workers(1, slow, inbox, outbox, name="cancelled")
    assert started.wait(WAIT)
    # stop_workers joins, so the item in hand is released from another thread.
    releaser = threading.Timer(0.01, release.set)
    releaser.start()
    stop_workers(inbox, workers, timeout=WAIT, cancel=True)
    releaser.join(WAIT)
    assert (inbox.closed, len(inbox)) == (True, 0)
    assert drained(outbox) == [0]


def test_start_workers_wants_at_least_one() -> None:
    with pytest.raises(ValueError, match="count must be >= 1, got 0"):
        start_workers(0, abs, ClosableQueue[int](1), ClosableQueue[Outcome[int]](1), name="none")


# LockCounter and PeakGauge


def test_lock_counter_loses_no_increment_under_five_threads() -> None:
    counter = LockCounter()
    how_many = 10**5

    def work() -> None:
        for _ in range(how_many):
            counter.increment()

    threads = [threading.Thread(target=work, name=f"counter-{i}") for i in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT * 6)
    assert counter.value == 5 * how_many
    assert counter.increment(-5 * how_many) == 0
    assert repr(counter) == "<LockCounter 0>"


def test_peak_gauge_remembers_the_most_threads_inside_at_once() -> None:
    gauge = PeakGauge()
    meet = threading.Barrier(4, timeout=WAIT)

    def work() -> None:
        with gauge:
            meet.wait()

    threads = [threading.Thread(target=work, name=f"gauge-{i}") for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
    assert (gauge.current, gauge.peak) == (0, 4)
    assert repr(gauge) == "<PeakGauge current=0 peak=4>"
    with pytest.raises(RuntimeError, match="without a matching enter"):
        gauge.exit()


# Blocking calls on anyio worker threads


def leaves(error: BaseException) -> list[BaseException]:
    if isinstance(error, BaseExceptionGroup):
        return [leaf for inner in error.exceptions for leaf in leaves(inner)]
    return [error]


@pytest.mark.anyio
async def test_five_blocking_calls_overlap_with_a_limit_of_five() -> None:
    # Item 53's five slow system calls: all five must be waiting at once to pass the barrier.
    barrier = threading.Barrier(5, timeout=WAIT)
    arrivals = await run_blocking([barrier.wait] * 5, limit=5)
    assert sorted(arrivals) == [0, 1, 2, 3, 4]
    assert not barrier.broken


@pytest.mark.anyio
async def test_a_limit_of_four_keeps_the_fifth_call_out() -> None:
    barrier = threading.Barrier(5, timeout=0.5)
    with pytest.raises((threading.BrokenBarrierError, BaseExceptionGroup)) as caught:
        await run_blocking([barrier.wait] * 5, limit=4)
    assert all(isinstance(leaf, threading.BrokenBarrierError) for leaf in leaves(caught.value))


@pytest.mark.anyio
async def test_the_one_exception_propagates_itself() -> None:
    def fail() -> int:
        raise OSError(5, "disk on fire")

    # pytest.raises(OSError) would not match an ExceptionGroup holding it.
    with pytest.raises(OSError, match="disk on fire"):
        await run_blocking([lambda: 1, fail, lambda: 3], limit=3)


@pytest.mark.anyio
async def test_results_keep_input_order_whatever_order_calls_finish_in() -> None:
    finished = [threading.Event() for _ in range(5)]

    def call(index: int) -> int:
        # Each call waits for the next one, so they finish last to first.
        if index + 1 < len(finished):
            assert finished[index + 1].wait(WAIT)
        finished[index].set()
        return index

    calls = [partial(call, index) for index in range(5)]
    assert await run_blocking(calls, limit=5) == [0, 1, 2, 3, 4]
    assert await run_blocking([], limit=1) == []


@pytest.mark.anyio
async def test_one_runner_holds_every_caller_to_its_limit() -> None:
    runner = BlockingRunner(2)
    gauge = PeakGauge()
    pairs = threading.Barrier(2, timeout=WAIT)

    def call(n: int) -> int:
        with gauge:
            pairs.wait()
        return n

    async with anyio.create_task_group() as group:
        for _ in range(3):
            group.start_soon(runner.run_all, [partial(call, 1)] * 2)
        assert await runner.run(pow, 2, 3) == 8
    assert gauge.peak == 2
    assert repr(runner) == "<BlockingRunner running=0/2>"


@pytest.mark.anyio
async def test_cancelling_waits_for_the_running_call_to_finish() -> None:
    runner = BlockingRunner(1)
    started, release, finished = threading.Event(), threading.Event(), threading.Event()

    def call() -> None:
        started.set()
        release.wait(WAIT)
        finished.set()

    releaser = threading.Timer(0.05, release.set)
    with anyio.CancelScope() as scope:
        async with anyio.create_task_group() as group:
            group.start_soon(runner.run, call)
            assert await anyio.to_thread.run_sync(started.wait, WAIT)
            releaser.start()
            scope.cancel()
    # Checked before the timer is joined: an abandoned thread would still be waiting for it.
    assert finished.is_set()
    assert scope.cancel_called
    releaser.join(WAIT)
    assert runner.running == 0


def test_a_runner_needs_a_positive_limit() -> None:
    with pytest.raises(ValueError, match="limit must be >= 1, got 0"):
        BlockingRunner(0)
