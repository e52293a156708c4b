"""Known Life behaviour in every universe: still lifes, oscillators, spaceships, guns, limits."""

from __future__ import annotations

import functools
from typing import Final, final

import anyio
import numpy as np
import pytest
from anyio import to_thread
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.config import LifeSettings
from service.errors import LimitExceeded, Unsupported
from service.life.engines.reference import ReferenceEngine
from service.life.engines.vectorised import NumpyEngine
from service.life.fanout import Chunking, FanoutStepper
from service.life.formats import bundled_pattern_path, load_pattern, read_pattern
from service.life.pattern import Cells, Pattern
from service.life.rules import CONWAY, Rule, parse_rule
from service.life.run import LifeResult, run_life
from service.life.strategies import Strategy
from service.life.strategies.serial import Serial
from service.life.topology import Topology
from service.life.universe import (
    Progress,
    Snapshot,
    Stepped,
    place,
    step_universe,
    step_universe_blocking,
)

LIMITS: Final = LifeSettings()
ALL_ENGINES: Final = ["reference", "numpy", "bitpacked", "auto"]
FAST_ENGINES: Final = ["numpy", "bitpacked"]
INFINITE: Final = Topology()


def bundled(name: str) -> Pattern:
    return load_pattern(bundled_pattern_path(name))


def life(
    pattern: Pattern,
    generations: int,
    engine: str,
    *,
    rule: Rule | None = None,
    topology: Topology | None = None,
    progress: Progress | None = None,
    every: int = 0,
    snapshot: Snapshot | None = None,
) -> LifeResult:
    return run_life(
        pattern,
        generations,
        limits=LIMITS,
        engine=engine,
        rule=rule,
        topology=topology,
        progress=progress,
        every=every,
        snapshot=snapshot,
    )


def grid(result: LifeResult) -> list[list[int]]:
    rows: list[list[int]] = result.pattern.trimmed().cells.tolist()
    return rows


def on_plane(cells: Cells, rule: Rule, generations: int) -> Pattern:
    """The infinite universe the slow, obvious way: a plane wider than light can cross."""
    margin = generations + 1
    padded = np.pad(cells, margin)
    stepped = NumpyEngine().advance(padded, rule, generations, wrap_x=False, wrap_y=False)
    return Pattern(stepped, -margin, -margin).trimmed()


@final
class SlowStepper:
    """A serial fan-out of the numpy engine claiming to be slow: each round is one generation."""

    __slots__ = ("_inner",)

    rate_hint: Final = 1000.0

    def __init__(self, strategy: Strategy) -> None:
        self._inner = FanoutStepper("numpy", strategy, Chunking())

    async def advance(
        self, cells: Cells, rule: Rule, generations: int, *, wrap_x: bool, wrap_y: bool
    ) -> Cells:
        return await self._inner.advance(cells, rule, generations, wrap_x=wrap_x, wrap_y=wrap_y)

    def advance_blocking(
        self, cells: Cells, rule: Rule, generations: int, *, wrap_x: bool, wrap_y: bool
    ) -> Cells:
        return self._inner.advance_blocking(cells, rule, generations, wrap_x=wrap_x, wrap_y=wrap_y)


# --- still lifes and oscillators ------------------------------------------------------------


@pytest.mark.parametrize("engine", ALL_ENGINES)
@pytest.mark.parametrize("text", ["OO\nOO", ".OO.\nO..O\n.OO."], ids=["block", "beehive"])
@pytest.mark.parametrize("topology", [INFINITE, Topology("torus", 8, 8), Topology("plane", 6, 5)])
def test_still_lifes_stay(engine: str, text: str, topology: Topology) -> None:
    pattern = read_pattern(text)
    start = place(pattern, topology)
    result = life(pattern, 7, engine, topology=topology)
    np.testing.assert_array_equal(result.pattern.cells, start.cells)
    assert result.bbox == start.bbox()


@pytest.mark.parametrize("engine", ALL_ENGINES)
def test_blinker_has_period_two(engine: str) -> None:
    blinker = bundled("blinker.cells")
    assert blinker.cells.tolist() == [[1, 1, 1]]
    assert life(blinker, 1, engine).bbox == (1, -1, 1, 3)
    for generations in (2, 4, 10):
        result = life(blinker, generations, engine)
        assert grid(result) == [[1, 1, 1]]
        assert result.bbox == (0, 0, 3, 1)


# --- the glider -----------------------------------------------------------------------------


def test_the_bundled_glider_heads_down_and_right() -> None:
    # A glider with its tail at the top left and its base at the bottom travels south-east.
    assert bundled("glider.rle").cells.tolist() == [[0, 1, 0], [0, 0, 1], [1, 1, 1]]


@pytest.mark.parametrize("engine", ALL_ENGINES)
def test_glider_moves_one_cell_diagonally_every_four_generations(engine: str) -> None:
    glider = bundled("glider.rle")
    for periods in range(4):
        result = life(glider, 4 * periods, engine)
        assert result.bbox == (periods, periods, 3, 3)
        assert grid(result) == glider.cells.tolist()
        assert result.population == 5


@pytest.mark.parametrize("engine", ALL_ENGINES)
def test_glider_comes_home_round_a_torus(engine: str) -> None:
    glider, torus = bundled("glider.rle"), Topology("torus", 16, 16)
    start = place(glider, torus).cells
    halfway = life(glider, 32, engine, topology=torus)
    assert halfway.population == 5
    assert not np.array_equal(halfway.pattern.cells, start)
    home = life(glider, 64, engine, topology=torus)
    np.testing.assert_array_equal(home.pattern.cells, start)


@pytest.mark.parametrize("engine", ALL_ENGINES)
def test_glider_on_a_bounded_plane_ends_as_a_block_in_the_far_corner(engine: str) -> None:
    cells = np.zeros((8, 8), dtype=np.uint8)
    cells[:3, :3] = bundled("glider.rle").cells
    plane = Topology("plane", 8, 8)
    # It glides until it meets the bottom and right edges, which turn it into a block. The
    # grid spans Golly's -4..3 both ways.
    assert life(Pattern(cells), 20, engine, topology=plane).bbox == (1, 1, 3, 3)
    for generations in (30, 100):
        result = life(Pattern(cells), generations, engine, topology=plane)
        assert result.population == 4
        assert result.bbox == (2, 2, 2, 2)
        assert result.pattern.cells[6:, 6:].tolist() == [[1, 1], [1, 1]]


# --- HighLife's replicator ------------------------------------------------------------------


@pytest.mark.parametrize("engine", ALL_ENGINES)
def test_highlife_replicator_copies_itself(engine: str) -> None:
    replicator = bundled("highlife-replicator.rle")
    assert replicator.rule == parse_rule("B36/S23")[0]
    original = replicator.cells
    assert replicator.population == 12

    # After 12 generations: two copies, moved 2 cells up-left and 2 cells down-right.
    first = life(replicator, 12, engine)
    assert first.population == 24
    assert first.bbox == (-2, -2, 9, 9)
    cells = first.pattern.cells.copy()
    np.testing.assert_array_equal(cells[0:5, 0:5], original)
    np.testing.assert_array_equal(cells[4:9, 4:9], original)
    cells[0:5, 0:5] = cells[4:9, 4:9] = 0
    assert not cells.any()

    # After 24: the same two copies, twice as far apart, with empty rows and columns between.
    second = life(replicator, 24, engine)
    assert second.population == 24
    assert second.bbox == (-4, -4, 13, 13)
    cells = second.pattern.cells
    np.testing.assert_array_equal(cells[0:5, 0:5], original)
    np.testing.assert_array_equal(cells[8:13, 8:13], original)
    assert not cells[5:8].any()
    assert not cells[:, 5:8].any()


def test_replicator_needs_highlife() -> None:
    # Under Conway's rule the same cells do something else entirely.
    replicator = bundled("highlife-replicator.rle")
    assert life(replicator, 12, "numpy", rule=CONWAY).population != 24


# --- the Gosper glider gun ------------------------------------------------------------------


@pytest.mark.parametrize("engine", FAST_ENGINES)
def test_gosper_gun_fires_a_glider_every_thirty_generations(engine: str) -> None:
    gun = bundled("gosper-glider-gun.rle")
    assert gun.population == 36
    for periods in range(8):
        result = life(gun, 30 * periods, engine)
        assert result.population == 36 + 5 * periods
        pattern = result.pattern
        body = pattern.cells[-pattern.y : -pattern.y + 9, -pattern.x : -pattern.x + 36]
        np.testing.assert_array_equal(body, gun.cells)


@pytest.mark.parametrize("engine", FAST_ENGINES)
@pytest.mark.parametrize("name", ["gosper-glider-gun.rle", "r-pentomino.rle", "acorn.rle"])
def test_infinite_universe_equals_a_plane_big_enough(engine: str, name: str) -> None:
    pattern = bundled(name)
    result = life(pattern, 300, engine)
    expected = on_plane(pattern.cells, CONWAY, 300)
    assert result.bbox == expected.bbox()
    np.testing.assert_array_equal(result.pattern.trimmed().cells, expected.cells)


@settings(max_examples=60, deadline=None)
@given(
    cells=st.lists(st.lists(st.integers(0, 1), min_size=6, max_size=6), min_size=1, max_size=6),
    birth=st.frozensets(st.integers(1, 8)),
    survival=st.frozensets(st.integers(0, 8)),
    generations=st.sampled_from(range(41)),
    x=st.integers(-50, 50),
    y=st.integers(-50, 50),
)
def test_infinite_universe_equals_a_plane_for_any_rule(
    cells: list[list[int]],
    birth: frozenset[int],
    survival: frozenset[int],
    generations: int,
    x: int,
    y: int,
) -> None:
    start = np.array(cells, dtype=np.uint8)
    rule = Rule(birth, survival)
    result = run_life(Pattern(start, x, y), generations, limits=LIMITS, rule=rule, engine="numpy")
    expected = on_plane(start, rule, generations)
    box = expected.bbox()
    assert result.bbox == (None if box is None else (box[0] + x, box[1] + y, box[2], box[3]))
    np.testing.assert_array_equal(result.pattern.trimmed().cells, expected.cells)


# --- stepped from a worker thread -----------------------------------------------------------


Calls = list[tuple[int, int]]


async def both_ways(
    start: Pattern, rule: Rule, topology: Topology, generations: int
) -> tuple[tuple[Stepped, Calls], tuple[Stepped, Calls]]:
    """The run awaited from the event loop, then made in a worker thread, with their progress."""
    on_loop: Calls = []
    in_thread: Calls = []
    async with Serial() as serial:
        stepper = SlowStepper(serial)  # a round a generation: many rounds, many meetings
        awaited = await step_universe(
            start,
            rule,
            topology,
            generations,
            stepper=stepper,
            max_cells=LIMITS.max_cells,
            progress=lambda *call: on_loop.append(call),
        )
        blocking = functools.partial(
            step_universe_blocking,
            start,
            rule,
            topology,
            generations,
            stepper=stepper,
            max_cells=LIMITS.max_cells,
            progress=lambda *call: in_thread.append(call),
        )
        made = await to_thread.run_sync(blocking)
    return (awaited, on_loop), (made, in_thread)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    cells=st.lists(st.lists(st.integers(0, 1), min_size=7, max_size=7), min_size=1, max_size=7),
    birth=st.frozensets(st.integers(1, 8)),
    survival=st.frozensets(st.integers(0, 8)),
    generations=st.sampled_from(range(30)),
    topology=st.sampled_from([INFINITE, Topology("torus", 9, 8), Topology("plane", 9, 8)]),
)
def test_a_run_made_in_a_worker_thread_equals_one_awaited_from_the_loop(
    anyio_backend: str,
    cells: list[list[int]],
    birth: frozenset[int],
    survival: frozenset[int],
    generations: int,
    topology: Topology,
) -> None:
    start = place(Pattern(np.array(cells, dtype=np.uint8), 2, -3), topology)
    rule = Rule(birth, survival)
    # An event loop an example: hypothesis ends examples with BaseExceptions that must not
    # cross anyio's test runner.
    (awaited, on_loop), (made, in_thread) = anyio.run(
        both_ways, start, rule, topology, generations, backend=anyio_backend
    )
    np.testing.assert_array_equal(made.pattern.cells, awaited.pattern.cells)
    assert (made.pattern.x, made.pattern.y) == (awaited.pattern.x, awaited.pattern.y)
    assert made.cell_updates == awaited.cell_updates
    assert in_thread == on_loop
    assert on_loop[-1:] == ([(generations, generations)] if generations else [])


@pytest.mark.anyio
async def test_a_run_in_a_worker_thread_refuses_b0_on_an_infinite_universe() -> None:
    rule = parse_rule("B0/S8")[0]
    async with Serial() as serial:
        blocking = functools.partial(
            step_universe_blocking,
            bundled("glider.rle"),
            rule,
            INFINITE,
            1,
            stepper=SlowStepper(serial),
            max_cells=LIMITS.max_cells,
        )
        with pytest.raises(Unsupported, match="choose the torus or plane topology"):
            await to_thread.run_sync(blocking)


# --- what an infinite universe refuses ------------------------------------------------------


@pytest.mark.parametrize("text", ["B0/S8", "B0123/S"])
def test_b0_rules_are_unsupported_on_an_infinite_universe(text: str) -> None:
    rule = parse_rule(text)[0]
    with pytest.raises(Unsupported, match="choose the torus or plane topology"):
        life(bundled("glider.rle"), 1, "numpy", rule=rule)
    # A bounded universe is fine: every dead cell with no live neighbour is born.
    torus = Topology("torus", 9, 9)
    result = life(bundled("glider.rle"), 1, "numpy", rule=rule, topology=torus)
    start = place(bundled("glider.rle"), torus).cells
    expected = ReferenceEngine().advance(start, rule, 1, wrap_x=True, wrap_y=True)
    np.testing.assert_array_equal(result.pattern.cells, expected)
    assert result.pattern.cells[0, 0] == 1  # far from the glider, centred at (4, 4)


def test_growth_past_max_cells_is_refused() -> None:
    gun = bundled("gosper-glider-gun.rle")
    limits = LifeSettings(max_cells=3000)
    with pytest.raises(LimitExceeded, match=r"past life\.max_cells = 3000"):
        run_life(gun, 1000, limits=limits, engine="numpy")


# --- place ----------------------------------------------------------------------------------


def test_place_centres_a_pattern_on_a_bounded_grid() -> None:
    # As Golly centres an RLE without Pos=: by the array's size, on the grid's (0, 0).
    glider = Pattern(bundled("glider.rle").cells, 100, -7)
    placed = place(glider, Topology("plane", 9, 6))
    assert (placed.x, placed.y, placed.width, placed.height) == (-4, -3, 9, 6)
    assert placed.bbox() == (-1, -1, 3, 3)


def test_place_keeps_a_pattern_of_the_grids_size_where_it_is() -> None:
    cells = np.zeros((8, 8), dtype=np.uint8)
    cells[0, 0] = 1
    assert place(Pattern(cells), Topology("torus", 8, 8)).bbox() == (-4, -4, 1, 1)


def test_place_trims_on_an_infinite_universe() -> None:
    cells = np.zeros((5, 5), dtype=np.uint8)
    cells[2, 3] = 1
    placed = place(Pattern(cells, 10, 20), INFINITE)
    assert (placed.x, placed.y, placed.cells.tolist()) == (13, 22, [[1]])


def test_place_an_empty_pattern_gives_an_empty_grid() -> None:
    placed = place(Pattern(np.zeros((2, 2), dtype=np.uint8)), Topology("torus", 4, 3))
    assert placed.cells.shape == (3, 4)
    assert placed.population == 0


def test_place_refuses_a_grid_smaller_than_the_pattern() -> None:
    with pytest.raises(LimitExceeded, match=r"span 36x9, more than the torus of 20x20"):
        place(bundled("gosper-glider-gun.rle"), Topology("torus", 20, 20))


# --- progress and snapshots -----------------------------------------------------------------


@pytest.mark.anyio
async def test_progress_is_called_after_each_round_up_to_the_end() -> None:
    calls: list[tuple[int, int]] = []
    torus = Topology("torus", 10, 10)
    start = place(bundled("glider.rle"), torus)
    async with Serial() as serial:
        stepped = await step_universe(
            start,
            CONWAY,
            torus,
            12,
            stepper=SlowStepper(serial),
            max_cells=LIMITS.max_cells,
            progress=lambda done, total: calls.append((done, total)),
        )
    assert calls == [(done, 12) for done in range(1, 13)]
    assert stepped.cell_updates == 100 * 12


@pytest.mark.anyio
async def test_step_universe_with_a_fanout_stepper_equals_the_engine() -> None:
    torus = Topology("torus", 16, 16)
    start = place(bundled("r-pentomino.rle"), torus)
    async with Serial() as serial:
        stepper = FanoutStepper("reference", serial, Chunking())
        stepped = await step_universe(
            start, CONWAY, torus, 9, stepper=stepper, max_cells=LIMITS.max_cells
        )
    expected = ReferenceEngine().advance(start.cells, CONWAY, 9, wrap_x=True, wrap_y=True)
    np.testing.assert_array_equal(stepped.pattern.cells, expected)
    assert stepped.cell_updates == 16 * 16 * 9


@pytest.mark.parametrize("engine", ALL_ENGINES)
@pytest.mark.parametrize("topology", [INFINITE, Topology("torus", 12, 12)])
def test_progress_through_run_life_ends_with_all_done(engine: str, topology: Topology) -> None:
    calls: list[tuple[int, int]] = []
    life(bundled("glider.rle"), 20, engine, topology=topology, progress=lambda *c: calls.append(c))
    done = [d for d, _ in calls]
    assert done == sorted(set(done))
    assert calls[-1] == (20, 20)
    assert all(total == 20 for _, total in calls)


@pytest.mark.anyio
async def test_progress_may_raise_to_stop_the_run() -> None:
    calls: list[int] = []

    def stop(done: int, total: int) -> None:
        calls.append(done)
        if done >= 3:
            raise KeyboardInterrupt

    torus = Topology("torus", 10, 10)
    with pytest.raises(KeyboardInterrupt):
        async with Serial() as serial:
            await step_universe(
                place(bundled("glider.rle"), torus),
                CONWAY,
                torus,
                100,
                stepper=SlowStepper(serial),
                max_cells=LIMITS.max_cells,
                progress=stop,
            )
    assert calls == [1, 2, 3]


@pytest.mark.parametrize("engine", ALL_ENGINES)
@pytest.mark.parametrize("topology", [INFINITE, Topology("torus", 16, 16)])
def test_snapshots_come_every_k_generations(engine: str, topology: Topology) -> None:
    glider = bundled("glider.rle")
    seen: list[tuple[int, Pattern]] = []
    life(
        glider,
        12,
        engine,
        topology=topology,
        every=4,
        snapshot=lambda g, p: seen.append((g, p)),
    )
    assert [g for g, _ in seen] == [0, 4, 8, 12]
    for generation, pattern in seen:
        expected = life(glider, generation, "numpy", topology=topology).pattern
        assert pattern.bbox() == expected.bbox()
        np.testing.assert_array_equal(pattern.trimmed().cells, expected.trimmed().cells)


def test_snapshots_end_with_the_last_generation_even_off_the_beat() -> None:
    # Every multiple of ``every``, and the final generation although 10 is not one.
    glider = bundled("glider.rle")
    seen: list[tuple[int, Pattern]] = []
    result = life(glider, 10, "numpy", every=4, snapshot=lambda g, p: seen.append((g, p)))
    assert [g for g, _ in seen] == [0, 4, 8, 10]
    last = seen[-1][1]
    assert last.bbox() == result.pattern.bbox()
    np.testing.assert_array_equal(last.trimmed().cells, result.pattern.trimmed().cells)


def test_the_last_generation_is_snapshot_once_when_on_the_beat() -> None:
    seen: list[int] = []
    life(bundled("glider.rle"), 8, "numpy", every=4, snapshot=lambda g, _: seen.append(g))
    assert seen == [0, 4, 8]


def test_no_generations_snapshot_only_the_start() -> None:
    seen: list[int] = []
    life(bundled("glider.rle"), 0, "numpy", every=4, snapshot=lambda g, _: seen.append(g))
    assert seen == [0]


def test_a_snapshot_without_every_is_only_the_start() -> None:
    seen: list[int] = []
    life(bundled("glider.rle"), 10, "numpy", snapshot=lambda g, _: seen.append(g))
    assert seen == [0]
