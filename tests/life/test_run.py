"""The run API: which universe a job gets, its limits, and the summary it reports."""

from __future__ import annotations

import functools
import json
from typing import Final

import anyio
import numpy as np
import pytest
from anyio import to_thread

from service.config import LifeSettings
from service.errors import InvalidInput, LimitExceeded
from service.life.fanout import Chunking
from service.life.formats import bundled_pattern_path, load_pattern
from service.life.pattern import Pattern
from service.life.rules import CONWAY, parse_rule
from service.life.run import (
    resolve_topology,
    run_life,
    settle_life,
    step_plan,
    step_plan_blocking,
)
from service.life.topology import Topology

LIMITS: Final = LifeSettings()
TORUS: Final = Topology("torus", 64, 48)
PLANE: Final = Topology("plane", 30, 20)
SUMMARY_KEYS: Final = {
    "generation",
    "population",
    "rule",
    "topology",
    "width",
    "height",
    "bbox",
    "engine",
    "elapsed_s",
    "cell_updates_per_s",
    "strategy",
    "workers",
    "chunks",
    "peak_threads",
    "threads_started",
}


def glider(topology: Topology | None = None) -> Pattern:
    return Pattern(load_pattern(bundled_pattern_path("glider.rle")).cells, topology=topology)


# --- resolve_topology -----------------------------------------------------------------------


def test_nothing_named_means_infinite() -> None:
    assert resolve_topology(None, None, rule_topology=None, pattern=glider()) == Topology()


def test_the_files_topology_is_the_default() -> None:
    assert resolve_topology(None, None, rule_topology=None, pattern=glider(PLANE)) == PLANE


def test_the_rule_suffix_beats_the_file() -> None:
    chosen = resolve_topology(None, None, rule_topology=TORUS, pattern=glider(PLANE))
    assert chosen == TORUS


def test_explicit_kind_and_size_beat_everything() -> None:
    chosen = resolve_topology("plane", (9, 7), rule_topology=TORUS, pattern=glider(PLANE))
    assert chosen == Topology("plane", 9, 7)


def test_explicit_kind_takes_the_suffix_size() -> None:
    chosen = resolve_topology("plane", None, rule_topology=TORUS, pattern=glider(PLANE))
    assert chosen == Topology("plane", 64, 48)


def test_explicit_kind_takes_the_files_size_without_a_suffix() -> None:
    chosen = resolve_topology("torus", None, rule_topology=None, pattern=glider(PLANE))
    assert chosen == Topology("torus", 30, 20)


def test_explicit_kind_takes_the_patterns_extent_when_nothing_is_bounded() -> None:
    pattern = Pattern(np.zeros((5, 11), dtype=np.uint8))
    assert resolve_topology("torus", None, rule_topology=None, pattern=pattern) == Topology(
        "torus", 11, 5
    )
    empty = Pattern(np.zeros((0, 0), dtype=np.uint8))
    assert resolve_topology("plane", None, rule_topology=None, pattern=empty) == Topology(
        "plane", 1, 1
    )


def test_a_size_without_a_kind_keeps_the_named_bounded_kind() -> None:
    assert resolve_topology(None, (8, 8), rule_topology=None, pattern=glider(PLANE)) == Topology(
        "plane", 8, 8
    )
    assert resolve_topology(None, (8, 8), rule_topology=TORUS, pattern=glider(PLANE)) == Topology(
        "torus", 8, 8
    )


def test_a_size_without_any_kind_means_a_torus() -> None:
    chosen = resolve_topology(None, (8, 6), rule_topology=None, pattern=glider())
    assert chosen == Topology("torus", 8, 6)


def test_explicit_infinite_beats_a_suffix() -> None:
    chosen = resolve_topology("infinite", None, rule_topology=TORUS, pattern=glider(PLANE))
    assert chosen == Topology()


def test_a_size_with_an_infinite_universe_is_refused() -> None:
    with pytest.raises(InvalidInput, match="--size applies to a torus or a plane"):
        resolve_topology("infinite", (8, 8), rule_topology=None, pattern=glider())


def test_an_unknown_kind_is_refused() -> None:
    with pytest.raises(InvalidInput, match="unknown topology 'klein': choose one of infinite, "):
        resolve_topology("klein", (8, 8), rule_topology=None, pattern=glider())


# --- run_life -------------------------------------------------------------------------------


def test_rule_and_topology_default_to_the_files() -> None:
    rule, topology = parse_rule("B36/S23:T16,12")
    pattern = Pattern(glider().cells, rule=rule, topology=topology, generation=5, name="g")
    result = run_life(pattern, 4, limits=LIMITS)
    assert (result.rule, result.topology) == (rule, topology)
    assert result.generation == result.pattern.generation == 9
    assert result.pattern.name == "g"
    assert result.pattern.cells.shape == (12, 16)


def test_explicit_rule_and_topology_beat_the_files() -> None:
    highlife, suffix = parse_rule("B36/S23:T16,12")
    pattern = Pattern(glider().cells, rule=highlife, topology=suffix)
    result = run_life(pattern, 4, limits=LIMITS, rule=CONWAY, topology=PLANE)
    assert (result.rule, result.topology) == (CONWAY, PLANE)
    assert result.pattern.rule == CONWAY


def test_without_rule_anywhere_it_is_conway() -> None:
    assert run_life(glider(), 0, limits=LIMITS).rule == CONWAY


def test_auto_picks_numpy_for_small_work() -> None:
    assert run_life(glider(), 4, limits=LIMITS).engine == "numpy"


def test_an_unknown_engine_is_refused() -> None:
    with pytest.raises(InvalidInput, match="unknown engine 'warp'"):
        run_life(glider(), 4, limits=LIMITS, engine="warp")


@pytest.mark.parametrize("generations", [-1, 11])
def test_generations_past_the_limit_are_refused(generations: int) -> None:
    with pytest.raises(LimitExceeded, match=r"must be 0 to 10 \(life\.max_generations\)"):
        run_life(glider(), generations, limits=LifeSettings(max_generations=10))


def test_the_last_generation_within_the_limit_runs() -> None:
    assert run_life(glider(), 10, limits=LifeSettings(max_generations=10)).generation == 10


def test_a_bounded_grid_past_max_cells_is_refused() -> None:
    with pytest.raises(
        LimitExceeded, match=r"a 100x100 grid has 10000 cells, past life\.max_cells = 9999"
    ):
        run_life(
            glider(), 1, limits=LifeSettings(max_cells=9999), topology=Topology("torus", 100, 100)
        )


def test_a_pattern_past_max_cells_is_refused() -> None:
    big = Pattern(np.ones((50, 50), dtype=np.uint8))
    with pytest.raises(LimitExceeded, match=r"past life\.max_cells = 100"):
        run_life(big, 0, limits=LifeSettings(max_cells=100))


# --- summary --------------------------------------------------------------------------------


def test_summary_on_a_torus() -> None:
    result = run_life(glider(), 8, limits=LIMITS, topology=Topology("torus", 16, 12))
    summary = result.summary()
    assert set(summary) == SUMMARY_KEYS
    assert summary["generation"] == 8
    assert summary["population"] == 5
    assert summary["rule"] == "B3/S23:T16,12"
    assert summary["topology"] == "torus"
    assert (summary["width"], summary["height"]) == (16, 12)
    # Golly's coordinates: the glider is centred on (0, 0), at (-1, -1), and moved by 2, 2.
    assert summary["bbox"] == [1, 1, 3, 3]
    assert summary["engine"] == "numpy"
    assert isinstance(summary["elapsed_s"], float)
    assert summary["elapsed_s"] >= 0
    assert isinstance(summary["cell_updates_per_s"], int)
    assert summary["cell_updates_per_s"] >= 0
    # Small work runs serially, in one band: the whole grid.
    assert (summary["strategy"], summary["workers"], summary["chunks"]) == ("serial", 1, 1)
    assert isinstance(summary["peak_threads"], int)
    assert summary["peak_threads"] >= 1
    assert json.loads(json.dumps(summary)) == summary


def test_summary_on_an_infinite_universe() -> None:
    highlife = parse_rule("B36/S23")[0]
    summary = run_life(glider(), 4, limits=LIMITS, rule=highlife, engine="reference").summary()
    assert summary["rule"] == "B36/S23"
    assert summary["topology"] == "infinite"
    assert (summary["width"], summary["height"]) == (3, 3)
    assert summary["bbox"] == [1, 1, 3, 3]
    assert summary["engine"] == "reference"


def test_summary_of_an_empty_universe() -> None:
    lonely = Pattern(np.ones((1, 1), dtype=np.uint8), 5, 5)
    summary = run_life(lonely, 1, limits=LIMITS).summary()
    assert summary["population"] == 0
    assert summary["bbox"] is None
    assert (summary["width"], summary["height"]) == (0, 0)
    plane = run_life(lonely, 1, limits=LIMITS, topology=Topology("plane", 4, 3)).summary()
    assert plane["bbox"] is None
    assert (plane["width"], plane["height"]) == (4, 3)
    assert plane["rule"] == "B3/S23:P4,3"


def test_cell_updates_are_counted() -> None:
    result = run_life(glider(), 10, limits=LIMITS, topology=Topology("torus", 20, 10))
    assert result.cell_updates == 20 * 10 * 10


# --- fan-out --------------------------------------------------------------------------------


def soup(side: int, seed: int) -> Pattern:
    return Pattern((np.random.default_rng(seed).random((side, side)) < 0.4).astype(np.uint8))


def test_a_fanned_out_run_reports_its_strategy_workers_chunks_and_threads() -> None:
    torus = Topology("torus", 32, 32)
    expected = run_life(soup(32, 1), 10, limits=LIMITS, topology=torus, engine="reference")
    result = run_life(
        soup(32, 1),
        10,
        limits=LIMITS,
        topology=torus,
        engine="bitpacked",
        strategy="queue",
        workers=3,
        chunking=Chunking(rows=8),
    )
    np.testing.assert_array_equal(result.pattern.cells, expected.pattern.cells)
    summary = result.summary()
    assert (summary["strategy"], summary["workers"], summary["chunks"]) == ("queue", 3, 4)
    assert summary["peak_threads"] >= 4
    assert (expected.strategy, expected.workers, expected.chunks) == ("serial", 1, 1)


def test_cell_chunks_take_the_reference_engine_and_count_a_chunk_a_cell() -> None:
    plane = Topology("plane", 7, 5)
    result = run_life(glider(), 3, limits=LIMITS, topology=plane, chunking=Chunking(cells=True))
    assert (result.engine, result.strategy, result.chunks) == ("reference", "serial", 35)
    expected = run_life(glider(), 3, limits=LIMITS, topology=plane, engine="numpy")
    np.testing.assert_array_equal(result.pattern.cells, expected.pattern.cells)


def test_cell_chunks_with_another_engine_are_refused() -> None:
    with pytest.raises(InvalidInput, match="needs --engine reference, not 'numpy'"):
        run_life(glider(), 3, limits=LIMITS, engine="numpy", chunking=Chunking(cells=True))


def test_an_unknown_strategy_is_refused() -> None:
    with pytest.raises(InvalidInput, match="unknown strategy 'warp'"):
        run_life(glider(), 4, limits=LIMITS, strategy="warp")


def test_more_workers_than_max_workers_are_refused() -> None:
    with pytest.raises(LimitExceeded, match=r"--workers 9: must be 1 to 8 \(life\.max_workers\)"):
        run_life(glider(), 4, limits=LifeSettings(max_workers=8), strategy="queue", workers=9)


@pytest.mark.parametrize("strategy", ["serial", "threads", "queue", "threadpool", "coroutines"])
def test_progress_rises_to_all_done_through_run_life(strategy: str) -> None:
    calls: list[tuple[int, int]] = []
    run_life(
        soup(16, 2),
        10,
        limits=LIMITS,
        topology=Topology("torus", 16, 16),
        engine="numpy",
        strategy=strategy,
        workers=2,
        progress=lambda done, total: calls.append((done, total)),
        every=3,
        snapshot=lambda generation, pattern: None,
    )
    assert calls == [(3, 10), (6, 10), (9, 10), (10, 10)]


# --- a settled plan, stepped from the loop or in a worker thread ----------------------------


def test_a_plan_is_serial_only_for_the_serial_strategy_by_bands() -> None:
    assert settle_life(glider(), 4, limits=LIMITS).serial  # auto: small work runs serially
    assert not settle_life(glider(), 4, limits=LIMITS, strategy="threads").serial
    per_cell = settle_life(glider(TORUS), 1, limits=LIMITS, chunking=Chunking(cells=True))
    assert per_cell.strategy == "serial"
    assert not per_cell.serial


@pytest.mark.parametrize("topology", [None, TORUS, PLANE], ids=["infinite", "torus", "plane"])
@pytest.mark.anyio
async def test_a_serial_plan_made_in_a_worker_thread_equals_the_awaited_run(
    topology: Topology | None,
) -> None:
    plan = settle_life(soup(16, 2), 40, limits=LIMITS, topology=topology)
    awaited = await step_plan(plan, limits=LIMITS)
    made = await to_thread.run_sync(functools.partial(step_plan_blocking, plan, limits=LIMITS))
    np.testing.assert_array_equal(made.pattern.cells, awaited.pattern.cells)
    assert (made.pattern.x, made.pattern.y) == (awaited.pattern.x, awaited.pattern.y)
    steady = {"elapsed_s", "cell_updates_per_s", "peak_threads"}
    summaries = [{k: v for k, v in r.summary().items() if k not in steady} for r in (made, awaited)]
    assert summaries[0] == summaries[1]


def test_a_plan_that_fans_out_is_not_made_in_a_worker_thread() -> None:
    plan = settle_life(glider(), 4, limits=LIMITS, strategy="threadpool", workers=2)
    with pytest.raises(ValueError, match="a threadpool run fans out from the event loop"):
        step_plan_blocking(plan, limits=LIMITS)


@pytest.mark.anyio
async def test_cancelling_the_caller_stops_a_run_made_in_a_worker_thread() -> None:
    # The reference engine on a 96x96 torus: a round of about 0.1 s, many rounds to go.
    torus = Topology("torus", 96, 96)
    plan = settle_life(
        soup(96, 3), 10_000, limits=LIMITS, topology=torus, engine="reference", strategy="serial"
    )
    rounds: list[int] = []
    step = functools.partial(
        step_plan_blocking, plan, limits=LIMITS, progress=lambda done, _: rounds.append(done)
    )
    with anyio.move_on_after(0.3) as waited:
        await to_thread.run_sync(step)
    assert waited.cancelled_caught
    assert rounds  # it had started,
    assert rounds[-1] < plan.generations  # and stopped at a round's end, long before the last
