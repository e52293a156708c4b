"""Run a Life job: settle rule and topology, check the limits, step, and summarise.

This is the one entry point the CLI, the HTTP API and the benchmarks call.

It is longer than ~300 lines because it is Life's one entry: check, settle and step, async and
blocking, and the result, in the order a run takes them.
"""

from __future__ import annotations

from concurrent.futures import Executor
from dataclasses import dataclass
from functools import partial
from typing import Any, final

import anyio

from service.config import LifeSettings
from service.errors import InvalidInput, LimitExceeded
from service.life.engines import choose_engine
from service.life.fanout import Chunking, FanoutStepper
from service.life.pattern import BBox, Pattern
from service.life.rules import CONWAY, Rule
from service.life.strategies import Strategy, choose_strategy, make_strategy
from service.life.topology import KINDS, Topology
from service.life.universe import (
    Progress,
    Snapshot,
    Stepped,
    check_placement,
    check_rule,
    place,
    step_universe,
    step_universe_blocking,
)

__all__ = [
    "LifePlan",
    "LifeResult",
    "check_life",
    "resolve_topology",
    "run_life",
    "run_life_async",
    "settle_checked",
    "settle_life",
    "step_plan",
    "step_plan_blocking",
]


@final
@dataclass(frozen=True, slots=True)
class LifeResult:
    """The final generation and what a user wants to know about the run."""

    pattern: Pattern
    generation: int
    rule: Rule
    topology: Topology
    engine: str
    elapsed_s: float
    cell_updates: int
    strategy: str = "serial"
    workers: int = 1
    chunks: int = 1
    peak_threads: int = 1
    threads_started: int = 0

    @property
    def population(self) -> int:
        return self.pattern.population

    @property
    def bbox(self) -> BBox | None:
        return self.pattern.bbox()

    @property
    def size(self) -> tuple[int, int]:
        """The grid: a bounded topology's size, or the live cells' extent on an infinite one."""
        if self.topology.bounded:
            return self.topology.width, self.topology.height
        box = self.bbox
        return (0, 0) if box is None else (box[2], box[3])

    def summary(self) -> dict[str, Any]:
        """The ``--json`` object."""
        width, height = self.size
        rate = self.cell_updates / self.elapsed_s if self.elapsed_s > 0 else 0.0
        return {
            "generation": self.generation,
            "population": self.population,
            "rule": f"{self.rule}{self.topology.suffix}",
            "topology": self.topology.kind,
            "width": width,
            "height": height,
            "bbox": list(self.bbox) if self.bbox is not None else None,
            "engine": self.engine,
            "elapsed_s": round(self.elapsed_s, 6),
            "cell_updates_per_s": round(rate),
            "strategy": self.strategy,
            "workers": self.workers,
            "chunks": self.chunks,
            "peak_threads": self.peak_threads,
            "threads_started": self.threads_started,
        }


def resolve_topology(
    kind: str | None,
    size: tuple[int, int] | None,
    *,
    rule_topology: Topology | None,
    pattern: Pattern,
) -> Topology:
    """Settle the universe: explicit choices first, then the rule's suffix, then the file's.

    A bounded kind without a size takes the suffix's size, else the pattern's own extent.
    A size without a kind keeps a bounded kind from the rule or file, else means a torus.
    """
    named = rule_topology or pattern.topology
    if kind == "infinite":
        if size is not None:
            raise InvalidInput("--size applies to a torus or a plane, not an infinite universe")
        return Topology("infinite")
    if kind is None:
        if size is None:
            return named or Topology("infinite")
        kind = named.kind if named is not None and named.bounded else "torus"
    if size is None:
        size = (named.width, named.height) if named and named.bounded else pattern_extent(pattern)
    if kind not in KINDS:
        raise InvalidInput(f"unknown topology {kind!r}: choose one of {', '.join(KINDS)}")
    return Topology(kind, *size)


def pattern_extent(pattern: Pattern) -> tuple[int, int]:
    """The pattern's own width and height, at least 1x1."""
    return max(1, pattern.width), max(1, pattern.height)


def run_life(pattern: Pattern, generations: int, **options: Any) -> LifeResult:
    """:func:`run_life_async` for synchronous callers (it starts its own event loop)."""
    return anyio.run(partial(run_life_async, pattern, generations, **options))


async def run_life_async(
    pattern: Pattern,
    generations: int,
    *,
    limits: LifeSettings,
    rule: Rule | None = None,
    topology: Topology | None = None,
    engine: str = "auto",
    strategy: str = "auto",
    workers: int | None = None,
    chunking: Chunking | None = None,
    executor: Executor | None = None,
    progress: Progress | None = None,
    every: int = 0,
    snapshot: Snapshot | None = None,
) -> LifeResult:
    """Step ``pattern`` ``generations`` times; rule and topology default to the file's.

    ``engine`` computes, ``strategy`` fans the chunks of ``chunking`` out over ``workers``;
    ``executor`` (any ``concurrent.futures.Executor``) replaces the ``processes`` pool.
    Cancelling the calling task stops the run within one dispatch, its workers stopped.
    ``progress`` and ``snapshot`` are passed to :func:`~service.life.universe.step_universe`.
    """
    plan = settle_life(
        pattern,
        generations,
        limits=limits,
        rule=rule,
        topology=topology,
        engine=engine,
        strategy=strategy,
        workers=workers,
        chunking=chunking,
    )
    return await step_plan(
        plan, limits=limits, executor=executor, progress=progress, every=every, snapshot=snapshot
    )


@final
@dataclass(frozen=True, slots=True)
class LifePlan:
    """A run checked and settled, not yet stepped: its universe, engine and fan-out."""

    pattern: Pattern
    placed: Pattern
    generations: int
    rule: Rule
    topology: Topology
    engine: str
    strategy: str
    workers: int
    chunking: Chunking

    @property
    def serial(self) -> bool:
        """Whether the run is serial by bands, which :func:`step_plan_blocking` can step."""
        return self.strategy == "serial" and not self.chunking.cells


def settle_life(
    pattern: Pattern,
    generations: int,
    *,
    limits: LifeSettings,
    rule: Rule | None = None,
    topology: Topology | None = None,
    engine: str = "auto",
    strategy: str = "auto",
    workers: int | None = None,
    chunking: Chunking | None = None,
) -> LifePlan:
    """Check a run against ``limits`` and settle its choices (see :func:`run_life_async`)."""
    rule, topology = check_life(pattern, generations, limits=limits, rule=rule, topology=topology)
    return settle_checked(
        pattern,
        generations,
        limits=limits,
        rule=rule,
        topology=topology,
        engine=engine,
        strategy=strategy,
        workers=workers,
        chunking=chunking,
    )


def settle_checked(
    pattern: Pattern,
    generations: int,
    *,
    limits: LifeSettings,
    rule: Rule,
    topology: Topology,
    engine: str = "auto",
    strategy: str = "auto",
    workers: int | None = None,
    chunking: Chunking | None = None,
) -> LifePlan:
    """Settle a run :func:`check_life` has passed, with the rule and universe it returned:
    the pattern placed, the engine and the fan-out chosen. Nothing is checked again."""
    chunking = chunking or Chunking()
    placed = place(pattern, topology)
    cells = placed.width * placed.height
    engine = choose_engine(engine, cells=cells, generations=generations, per_cell=chunking.cells)
    strategy, workers = choose_strategy(
        strategy,
        workers=workers,
        cells=cells,
        generations=generations,
        per_cell=chunking.cells,
        max_workers=limits.max_workers,
    )
    return LifePlan(
        pattern, placed, generations, rule, topology, engine, strategy, workers, chunking
    )


def check_life(
    pattern: Pattern,
    generations: int,
    *,
    limits: LifeSettings,
    rule: Rule | None = None,
    topology: Topology | None = None,
) -> tuple[Rule, Topology]:
    """Every refusal of a run, in one place: the generations and cells past ``limits``, a rule
    the universe cannot hold, a pattern its bounded grid cannot hold (placed as Golly places
    it). The rule and universe, for :func:`settle_checked`."""
    if not 0 <= generations <= limits.max_generations:
        raise LimitExceeded(
            f"generations = {generations}: must be 0 to {limits.max_generations} "
            "(life.max_generations)"
        )
    rule = rule or pattern.rule or CONWAY
    topology = topology or pattern.topology or Topology("infinite")
    _check_cells(pattern, topology, limits.max_cells)
    check_rule(rule, topology)
    check_placement(pattern, topology)
    return rule, topology


async def step_plan(
    plan: LifePlan,
    *,
    limits: LifeSettings,
    executor: Executor | None = None,
    progress: Progress | None = None,
    every: int = 0,
    snapshot: Snapshot | None = None,
) -> LifeResult:
    """Step a settled run with its strategy's workers (see :func:`run_life_async`)."""
    fanout = make_strategy(plan.strategy, workers=plan.workers, limits=limits, executor=executor)
    stepper = FanoutStepper(plan.engine, fanout, plan.chunking)
    async with fanout:
        stepped = await step_universe(
            plan.placed,
            plan.rule,
            plan.topology,
            plan.generations,
            stepper=stepper,
            max_cells=limits.max_cells,
            progress=progress,
            every=every,
            snapshot=snapshot,
        )
    return _result(plan, stepped, stepper, fanout)


def step_plan_blocking(
    plan: LifePlan, *, limits: LifeSettings, progress: Progress | None = None
) -> LifeResult:
    """Step a :attr:`~LifePlan.serial` run in the calling thread, one of
    ``anyio.to_thread``'s: the same rounds as :func:`step_plan`, and cancelled the same way,
    without a trip through the event loop for each."""
    if not plan.serial:
        raise ValueError(f"a {plan.strategy} run fans out from the event loop: use step_plan")
    # The serial strategy starts no workers: entering it (async) would do nothing.
    fanout = make_strategy(plan.strategy, workers=plan.workers, limits=limits)
    stepper = FanoutStepper(plan.engine, fanout, plan.chunking)
    stepped = step_universe_blocking(
        plan.placed,
        plan.rule,
        plan.topology,
        plan.generations,
        stepper=stepper,
        max_cells=limits.max_cells,
        progress=progress,
    )
    return _result(plan, stepped, stepper, fanout)


def _result(
    plan: LifePlan, stepped: Stepped, stepper: FanoutStepper, fanout: Strategy
) -> LifeResult:
    start = plan.pattern
    final = Pattern(
        stepped.pattern.cells,
        stepped.pattern.x,
        stepped.pattern.y,
        plan.rule,
        plan.topology,
        start.generation + plan.generations,
        start.name,
        start.comments,
        "given",
    )
    return LifeResult(
        final,
        final.generation,
        plan.rule,
        plan.topology,
        plan.engine,
        stepped.elapsed_s,
        stepped.cell_updates,
        plan.strategy,
        plan.workers,
        max(1, stepper.chunks),
        fanout.peak_threads,
        fanout.threads_started,
    )


def _check_cells(pattern: Pattern, topology: Topology, max_cells: int) -> None:
    width, height = (
        (topology.width, topology.height) if topology.bounded else (pattern.width, pattern.height)
    )
    if width * height > max_cells:
        raise LimitExceeded(
            f"a {width}x{height} grid has {width * height} cells, past life.max_cells = {max_cells}"
        )
