"""service.pipeline: the stage engine on asyncio and trio, with real threads and processes."""

from __future__ import annotations

import os
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import anyio
import anyio.lowlevel
import pytest

from service.pipeline import (
    Manifest,
    Retry,
    Stage,
    StageCounts,
    bound,
    run_pipeline,
    run_pipeline_threads,
)
from tests.pipeline import _stages

pytestmark = pytest.mark.anyio

Run = Callable[..., Awaitable[Manifest]]


@pytest.fixture(params=["async", "threads"])
def engine(request: pytest.FixtureRequest) -> Run:
    """Both engines: stages joined by memory object streams, or item 55's threads and queues."""
    return run_pipeline if request.param == "async" else run_pipeline_threads


class Flaky(Exception):
    """A transient error, as http_io marks them."""

    transient = True


class Busy:
    """Counts calls running right now, from any thread."""

    def __init__(self) -> None:
        self.now = 0
        self.lock = threading.Lock()

    def __enter__(self) -> None:
        with self.lock:
            self.now += 1

    def __exit__(self, *_: object) -> None:
        with self.lock:
            self.now -= 1


async def test_items_go_through_every_runner_in_order(engine: Run) -> None:
    async def parse(source: object) -> int:
        await anyio.lowlevel.checkpoint()
        return int(str(source))

    stages = [
        Stage("parse", parse, workers=3),
        Stage("square", _stages.square, workers=2, runner="thread"),
        Stage("again", _stages.square, workers=2, runner="process"),
    ]
    manifest = await engine(stages, [str(n) for n in range(20)], buffer=2)
    assert [outcome.result for outcome in manifest.outcomes] == [n**4 for n in range(20)]
    assert [outcome.source for outcome in manifest.outcomes] == [str(n) for n in range(20)]
    assert manifest.succeeded == 20
    assert all(
        outcome.attempts == {"parse": 1, "square": 1, "again": 1} for outcome in manifest.outcomes
    )


async def test_ten_thousand_items_never_exceed_the_bound() -> None:
    made = finished = peak = 0

    async def sources() -> AsyncIterator[str]:
        nonlocal made, peak
        for n in range(10_000):
            made += 1
            peak = max(peak, made - finished)
            yield str(n)

    async def slow(value: object) -> object:
        await anyio.lowlevel.checkpoint()
        return value

    async def last(value: object) -> object:
        nonlocal finished
        finished += 1
        return value

    stages = [Stage("a", slow, workers=4), Stage("b", slow, workers=2), Stage("c", last)]
    manifest = await run_pipeline(stages, sources(), buffer=3)
    assert manifest.succeeded == 10_000
    # Counted from outside the engine: made by the source, less finished by the last stage.
    assert peak <= bound(stages, 3) == 1 + (3 + 4) + (3 + 2) + (3 + 1)
    assert manifest.peak_in_flight <= manifest.bound


async def test_a_failed_item_is_reported_and_the_others_go_on(engine: Run) -> None:
    async def check(source: object) -> object:
        if int(str(source)) % 3 == 0:
            raise ValueError(f"{source} is a multiple of three")
        return source

    async def passthrough(value: object) -> object:
        return value

    stages = [
        Stage("fetch", passthrough),
        Stage("check", check, workers=2),
        Stage("keep", passthrough),
    ]
    manifest = await engine(stages, [str(n) for n in range(9)])
    failed = [outcome for outcome in manifest.outcomes if not outcome.ok]
    assert [outcome.index for outcome in failed] == [0, 3, 6]
    assert failed[1].stage == "check"
    assert failed[1].error == "3 is a multiple of three"
    assert failed[1].error_type == "ValueError"
    assert failed[1].attempts == {"fetch": 1, "check": 1}  # never reached "keep"
    assert manifest.succeeded == 6


async def test_only_transient_errors_are_retried_with_backoff(engine: Run) -> None:
    calls: dict[str, int] = {}

    async def shaky(source: object) -> object:
        key = str(source)
        calls[key] = calls.get(key, 0) + 1
        if key == "twice-then-ok" and calls[key] <= 2:
            raise Flaky("503 from the server")
        if key == "always-flaky":
            raise Flaky("reset by peer")
        if key == "broken":
            raise LookupError("404 not found")
        return key

    retry = Retry(attempts=4, base_s=0.001, max_s=0.01)
    stages = [Stage("download", shaky, retry=retry)]
    manifest = await engine(stages, ["twice-then-ok", "always-flaky", "broken"], seed=1)
    by_source = {outcome.source: outcome for outcome in manifest.outcomes}
    assert by_source["twice-then-ok"].ok
    assert by_source["twice-then-ok"].attempts == {"download": 3}
    assert by_source["always-flaky"].attempts == {"download": 4}
    assert by_source["always-flaky"].error == "reset by peer"
    assert by_source["broken"].attempts == {"download": 1}


def test_backoff_grows_and_is_jittered_below_its_ceiling() -> None:
    import random

    retry = Retry(attempts=10, base_s=0.1, max_s=1.0)
    rng = random.Random(7)
    for failures, ceiling in [(1, 0.1), (2, 0.2), (3, 0.4), (4, 0.8), (5, 1.0), (9, 1.0)]:
        waits = [retry.delay(failures, rng) for _ in range(200)]
        assert all(0 <= wait <= ceiling for wait in waits)
        assert max(waits) > ceiling * 0.8  # spread over the whole range, not a constant
    with pytest.raises(ValueError, match="at least 1"):
        Retry(attempts=0)


async def test_a_stage_time_limit_fails_the_call_as_transient(engine: Run) -> None:
    slow_calls = 0

    async def slow(source: object) -> object:
        nonlocal slow_calls
        slow_calls += 1
        await anyio.sleep(10)
        return source

    stage = Stage("download", slow, timeout_s=0.05, retry=Retry(attempts=2, base_s=0.001))
    manifest = await engine([stage], ["x"])
    (outcome,) = manifest.outcomes
    assert outcome.error == "timed out after 0.05 s"
    assert outcome.error_type == "TimeoutError"
    assert slow_calls == 2  # a timeout is transient: tried again


async def test_progress_counts_every_stage(engine: Run) -> None:
    seen: list[tuple[StageCounts, ...]] = []

    async def odd_only(source: object) -> object:
        if int(str(source)) % 2 == 0:
            raise ValueError("even")
        return source

    def snapshot(counts: tuple[StageCounts, ...]) -> None:
        seen.append(tuple(StageCounts(**{s: getattr(c, s) for s in c.__slots__}) for c in counts))

    stages = [Stage("filter", odd_only, workers=2), Stage("done", odd_only)]
    await engine(stages, [str(n) for n in range(10)], progress=snapshot)
    final = seen[-1]
    assert [(c.name, c.received, c.passed, c.failed, c.in_flight) for c in final] == [
        ("filter", 10, 5, 5, 0),
        ("done", 5, 5, 0, 0),
    ]
    assert any(counts[0].in_flight > 0 for counts in seen)


async def test_cancellation_stops_every_worker_and_leaves_nothing_running(
    engine: Run, tmp_path: Path
) -> None:
    busy = Busy()
    started = anyio.Event()

    def block(value: object) -> object:
        with busy:
            anyio.from_thread.run_sync(started.set)
            threading.Event().wait(0.3)  # a thread cannot be interrupted: it finishes its call
        return value

    async def forever(value: object) -> object:
        await anyio.sleep_forever()
        return value

    markers = [tmp_path / f"pid-{n}" for n in range(2)]
    stages = [
        Stage("cpu", block, workers=2, runner="thread"),
        Stage("proc", _stages.hold, workers=2, runner="process"),
        Stage("io", forever, workers=2),
    ]
    sources = [f"30,{markers[n % 2]}" for n in range(50)]
    with anyio.move_on_after(5) as scope:
        async with anyio.create_task_group() as group:

            async def cancel_soon() -> None:
                await started.wait()
                with anyio.fail_after(10):
                    while not all(marker.exists() for marker in markers):  # noqa: ASYNC110  # polling: there is no event to wait on
                        await anyio.sleep(0.02)  # until both process workers hold an item
                group.cancel_scope.cancel()

            group.start_soon(cancel_soon)
            await engine(stages, sources)
    assert not scope.cancelled_caught  # cancelled by the group, promptly, not by the deadline
    assert busy.now == 0  # no thread still inside a call
    for marker in markers:
        pid = int(marker.read_text())
        with anyio.fail_after(5):
            while _alive(pid):  # noqa: ASYNC110 - polling the OS, nothing to wait on
                await anyio.sleep(0.02)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/stat").read_text()
    return status[status.rindex(")") + 2] != "Z"  # a zombie is dead, waiting to be reaped


async def test_bad_stages_are_refused() -> None:
    async def noop(value: object) -> object:
        return value

    with pytest.raises(ValueError, match="runner 'fiber': choose async, thread, process"):
        Stage("x", noop, runner="fiber")  # type: ignore[arg-type]  # a wrong type on purpose: the refusal is the test
    with pytest.raises(ValueError, match="workers 0: must be at least 1"):
        Stage("x", noop, workers=0)
    with pytest.raises(ValueError, match="at least one stage"):
        await run_pipeline([], ["a"])
    empty: Manifest = await run_pipeline([Stage("x", noop)], [])
    assert empty.outcomes == ()


async def test_both_engines_give_the_same_manifest() -> None:
    async def check(source: object) -> object:
        number = int(str(source))
        if number % 4 == 1:
            raise ValueError(f"{number} is refused")
        return number

    stages = [
        Stage("check", check, workers=3),
        Stage("square", _stages.square, workers=2, runner="thread"),
    ]
    sources = [str(n) for n in range(40)]
    ours = await run_pipeline(stages, sources, buffer=2)
    theirs = await run_pipeline_threads(stages, sources, buffer=2)
    assert ours.outcomes == theirs.outcomes
    assert ours.failed == 10
