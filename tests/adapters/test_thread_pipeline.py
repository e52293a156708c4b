"""adapters.threads.run_thread_pipeline: item 55's pipeline, bounded and stoppable."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from adapters.threads import Dropped, Passed, ThreadStage, run_thread_pipeline


def pipeline_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("pipeline-")]


def test_items_pass_every_stage_and_failures_stop_where_they_happen() -> None:
    def halve(value: object) -> object:
        number = int(str(value))
        if number % 2:
            raise ValueError(f"{number} is odd")
        return number // 2

    stages = [ThreadStage("halve", halve, workers=3), ThreadStage("text", str, workers=2)]
    entries = run_thread_pipeline(stages, range(10), buffer=2)
    by_index = {entry.index: entry for entry in entries}
    assert sorted(by_index) == list(range(10))
    assert by_index[4] == Passed(4, "2")
    dropped = by_index[3]
    assert isinstance(dropped, Dropped)
    assert dropped.stage == "halve"
    assert str(dropped.error) == "3 is odd"
    assert pipeline_threads() == []


def test_the_queues_hold_back_a_fast_producer() -> None:
    produced = consumed = peak = 0
    lock = threading.Lock()

    def items() -> Iterator[int]:
        nonlocal produced, peak
        for n in range(2_000):
            with lock:
                produced += 1
                peak = max(peak, produced - consumed)
            yield n

    def slow_end(value: object) -> object:
        nonlocal consumed
        time.sleep(0.0001)
        with lock:
            consumed += 1
        return value

    stages = [ThreadStage("a", lambda v: v, workers=2), ThreadStage("b", slow_end, workers=1)]
    entries = run_thread_pipeline(stages, items(), buffer=4)
    assert len(entries) == 2_000
    # Four queues of four, a worker's item each, the feeder's: nothing piles up.
    assert peak <= 4 * 3 + 2 + 1 + 1 + 1


def test_a_check_that_raises_stops_every_thread_and_goes_up() -> None:
    started = threading.Event()

    def slow(value: object) -> object:
        started.set()
        time.sleep(0.05)
        return value

    class Stop(Exception):
        pass

    stopped: list[bool] = []

    def check() -> None:
        if started.is_set():
            raise Stop

    with pytest.raises(Stop):
        run_thread_pipeline(
            [ThreadStage("slow", slow, workers=2)],
            range(1_000),
            buffer=2,
            check=check,
            on_stop=lambda: stopped.append(True),
        )
    assert stopped == [True]
    assert pipeline_threads() == []


def test_the_items_own_error_reaches_the_caller() -> None:
    def broken() -> Iterator[int]:
        yield 1
        raise OSError("the source list could not be read")

    with pytest.raises(OSError, match="could not be read"):
        run_thread_pipeline([ThreadStage("x", lambda v: v)], broken(), buffer=1)
    assert pipeline_threads() == []
