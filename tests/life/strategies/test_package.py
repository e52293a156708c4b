"""The strategies package (its ``__init__``): choosing a strategy and its workers, making it."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from service.config import LifeSettings
from service.errors import InvalidInput, LimitExceeded
from service.life.strategies import STRATEGY_NAMES, choose_strategy, make_strategy
from service.life.strategies.coroutines import Coroutines
from service.life.strategies.per_chunk import ThreadPerChunk
from service.life.strategies.processes import Processes
from service.life.strategies.queue_workers import QueueWorkers
from service.life.strategies.serial import Serial
from service.life.strategies.thread_pool import ThreadPool

LIMITS = LifeSettings()


def test_the_names() -> None:
    assert STRATEGY_NAMES == (
        "auto",
        "serial",
        "threads",
        "queue",
        "threadpool",
        "coroutines",
        "processes",
    )


def test_auto_runs_small_work_serially_and_big_work_on_a_thread_pool(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("os.cpu_count", lambda: 6)
    assert choose_strategy(
        "auto", workers=None, cells=100, generations=10, per_cell=False, max_workers=64
    ) == (
        "serial",
        1,
    )
    big = choose_strategy(
        "auto", workers=None, cells=10**7, generations=100, per_cell=False, max_workers=64
    )
    assert big == ("threadpool", 6)
    assert choose_strategy(
        "auto", workers=3, cells=10**7, generations=100, per_cell=False, max_workers=64
    ) == (
        "threadpool",
        3,
    )


def test_auto_runs_cell_chunks_serially() -> None:
    chosen = choose_strategy(
        "auto", workers=4, cells=10**7, generations=100, per_cell=True, max_workers=64
    )
    assert chosen == ("serial", 1)


@pytest.mark.parametrize("name", ["threads", "queue", "threadpool", "coroutines", "processes"])
def test_workers_default_to_the_core_count(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    monkeypatch.setattr("os.cpu_count", lambda: 5)
    assert choose_strategy(
        name, workers=None, cells=1, generations=1, per_cell=False, max_workers=64
    ) == (name, 5)
    assert choose_strategy(
        name, workers=2, cells=1, generations=1, per_cell=False, max_workers=64
    ) == (name, 2)


def test_an_unknown_strategy_is_refused() -> None:
    with pytest.raises(InvalidInput, match=r"unknown strategy 'warp': choose one of auto, serial"):
        choose_strategy(
            "warp", workers=None, cells=1, generations=1, per_cell=False, max_workers=64
        )
    with pytest.raises(InvalidInput, match=r"unknown strategy 'auto': choose one of serial, "):
        make_strategy("auto", workers=1, limits=LIMITS)


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("serial", Serial),
        ("threads", ThreadPerChunk),
        ("queue", QueueWorkers),
        ("threadpool", ThreadPool),
        ("coroutines", Coroutines),
        ("processes", Processes),
    ],
)
def test_make_strategy_by_name(name: str, kind: type) -> None:
    strategy = make_strategy(name, workers=2, limits=LIMITS)
    assert isinstance(strategy, kind)
    assert strategy.name == name


def test_make_strategy_refuses_more_workers_than_max_workers() -> None:
    limits = LifeSettings(max_workers=4)
    assert make_strategy("queue", workers=4, limits=limits).workers == 4
    with pytest.raises(LimitExceeded, match=r"--workers 5: past life\.max_workers = 4"):
        make_strategy("queue", workers=5, limits=limits)


def test_the_threads_strategy_takes_max_threads_from_the_limits() -> None:
    strategy = make_strategy("threads", workers=2, limits=LifeSettings(max_threads=7))
    assert isinstance(strategy, ThreadPerChunk)
    assert strategy.max_threads == 7


def test_any_executor_may_replace_the_process_pool() -> None:
    with ThreadPoolExecutor(1) as executor:
        strategy = make_strategy("processes", workers=2, limits=LIMITS, executor=executor)
        assert isinstance(strategy, Processes)
        assert strategy.shared_memory


def test_explicit_workers_past_the_limit_are_refused_even_when_run_serially() -> None:
    with pytest.raises(LimitExceeded, match=r"life\.max_workers"):
        choose_strategy("auto", workers=65, cells=1, generations=1, per_cell=False, max_workers=64)


def test_the_default_worker_count_stays_within_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("os.cpu_count", lambda: 128)
    chosen = choose_strategy(
        "threadpool", workers=None, cells=1, generations=1, per_cell=False, max_workers=8
    )
    assert chosen == ("threadpool", 8)
