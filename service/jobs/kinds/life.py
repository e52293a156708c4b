"""The ``life`` job: step a pattern (or a random soup) N generations, as ``fanout life`` does.

The result is the summary ``fanout life --json`` prints (plus ``seed`` for a soup); the
artifact is the final generation as RLE (``text/plain; charset=utf-8``, so a browser shows it)
or as a PNG (``image/png``) with ``render = "png"``. Progress counts generations.

:meth:`LifeKind.check` refuses at submission what can be judged without work: both or neither
of ``pattern`` and ``random``, pattern text past :data:`MAX_PATTERN_BYTES`, generations,
workers and grid sizes past the ``[life]`` limits, unknown rules, topologies, engines and
strategies. One request, one plan, from there:

1. :meth:`LifeKind.admit` reads the parameters once into a :class:`LifeRequest`: the pattern
   parsed, the rule and universe named, and every refusal of the run made
   (:func:`~service.life.run.check_life`: a grid the pattern does not fit, a rule its universe
   cannot hold), so they get their 400 with the message ``fanout life`` gives. A glider takes
   about 16 us, on the event loop; a long pattern or a large soup goes to a worker thread.
2. :meth:`LifeKind.run` gets that request back and settles it into a plan
   (:func:`~service.life.run.settle_checked`: placed, engine and fan-out chosen; nothing is
   parsed or checked again).
3. The plan runs: a quick serial one (what ``auto`` makes of all small work) is stepped,
   written and synced in one of the manager's worker processes (``[jobs] worker_processes``),
   in one trip, so its work takes nothing of the GIL the event loop needs; without them, or
   for a long serial run (which reports progress), in one trip to a worker thread. A run that
   fans out comes back to the event loop for its workers.

It is longer than ~300 lines because it is one kind read in order: the checks of ``check``,
the request of ``admit``, the plan and the three ways a plan runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Annotated, Any, ClassVar, Final, final

import msgspec
import numpy as np
from anyio import to_thread

from service.config import LifeSettings, Settings
from service.errors import BadParam, WorkerError
from service.jobs.artifacts import sync_artifact
from service.jobs.kind import JobContext, Outcome, WorkerFailed
from service.jobs.kinds._support import blame, expect
from service.life.engines import ENGINE_NAMES
from service.life.formats import read_pattern, write_pattern
from service.life.pattern import Pattern
from service.life.render import render_png
from service.life.rules import Rule, parse_rule
from service.life.run import (
    LifePlan,
    LifeResult,
    check_life,
    resolve_topology,
    settle_checked,
    step_plan,
    step_plan_blocking,
)
from service.life.soup import Soup, parse_soup
from service.life.strategies import SERIAL_WORK, STRATEGY_NAMES
from service.life.topology import KINDS, Topology, parse_size
from service.life.universe import Progress

__all__ = [
    "MAX_PATTERN_BYTES",
    "PNG_MEDIA_TYPE",
    "QUICK_WORK",
    "RENDERS",
    "RLE_MEDIA_TYPE",
    "LifeKind",
    "LifeParams",
]

MAX_PATTERN_BYTES: Final = 1 << 20
"""The longest ``pattern`` text a job takes, in UTF-8 bytes (1 MiB): a request body, not a file."""
QUICK_WORK: Final = SERIAL_WORK
"""Cell-updates (cells x generations) under which a serial run goes to a worker process in one
trip: what ``auto`` runs serially, a fraction of a second of work on a fast engine."""
_INLINE_BYTES: Final = 512
"""Pattern text up to this long is settled on the event loop at submission; longer, on a thread."""
_INLINE_CELLS: Final = 1 << 16
"""Likewise for a soup's grid, whose stand-in (all dead) is scanned when placed."""
RENDERS: Final = ("rle", "png")
RLE_MEDIA_TYPE: Final = "text/plain; charset=utf-8"
PNG_MEDIA_TYPE: Final = "image/png"


class LifeParams(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """A Life job: a pattern or a random soup, how far to step it, and how."""

    pattern: Annotated[
        str | None, msgspec.Meta(description="RLE, plaintext (.cells) or Life 1.05/1.06 text")
    ] = None
    random: Annotated[
        str | None, msgspec.Meta(description="a random soup, WxH[:DENSITY[:SEED]]")
    ] = None
    generations: Annotated[int, msgspec.Meta(ge=0)] = 0
    rule: Annotated[str | None, msgspec.Meta(description="B/S rule, e.g. B3/S23:T64,64")] = None
    topology: Annotated[str | None, msgspec.Meta(description="infinite, torus or plane")] = None
    size: Annotated[str | None, msgspec.Meta(description="WxH of a torus or plane")] = None
    engine: Annotated[str | None, msgspec.Meta(description=", ".join(ENGINE_NAMES))] = None
    strategy: Annotated[str | None, msgspec.Meta(description=", ".join(STRATEGY_NAMES))] = None
    workers: Annotated[int, msgspec.Meta(ge=1)] | None = None
    render: Annotated[str, msgspec.Meta(description="the artifact: rle or png")] = "rle"


@final
class LifeKind:
    """Conway's Life, or any B/S rule, stepped by the library's engines and strategies."""

    name: ClassVar[str] = "life"
    params: ClassVar[type[msgspec.Struct]] = LifeParams
    secret_fields: ClassVar[tuple[str, ...]] = ()
    payload_fields: ClassVar[tuple[str, ...]] = ()

    def check(self, params: msgspec.Struct, settings: Settings) -> None:
        """BadParam naming the first parameter past the ``[life]`` limits or not understood."""
        job, limits = expect(params, LifeParams), settings.life
        _check_source(job, limits)
        _within("generations", job.generations, 0, limits.max_generations)
        if job.workers is not None:
            _within("workers", job.workers, 1, limits.max_workers)
        _check_universe(job, limits)
        for field, value, allowed in (
            ("engine", job.engine, ENGINE_NAMES),
            ("strategy", job.strategy, STRATEGY_NAMES),
            ("render", job.render, RENDERS),
        ):
            _one_of(field, value, allowed)

    async def admit(self, params: msgspec.Struct, settings: Settings) -> LifeRequest:
        """The job's request, read once: its pattern parsed (or its soup's recipe), its rule and
        universe named, and every refusal of :func:`~service.life.run.check_life` made now."""
        job, limits = expect(params, LifeParams), settings.life
        if _settles_inline(job):
            return _request(job, limits)
        return await to_thread.run_sync(_request, job, limits)

    def timeout_s(self, settings: Settings) -> float | None:
        """None: a run is bounded by its generations and cells, and stops when cancelled."""
        return None

    def max_running(self, settings: Settings) -> int:
        """``[jobs] max_running_life``: Life steps on two cores, in worker processes or on this
        process's threads."""
        return settings.jobs.max_running_life

    async def run(self, params: msgspec.Struct, context: JobContext) -> Outcome:
        request = context.request
        if not isinstance(request, LifeRequest):  # revived after a restart: read it again
            request = await self.admit(params, context.settings)
        limits = context.settings.life
        path = context.artifact_path(".png" if request.png else ".rle")
        media_type = PNG_MEDIA_TYPE if request.png else RLE_MEDIA_TYPE
        if context.processes is not None and request.strategy in ("auto", "serial"):
            plan = (
                _plan(request, limits)
                if request.small
                else await to_thread.run_sync(_plan, request, limits)
            )
            if _is_quick(plan):
                try:
                    result = await context.processes.run(
                        _run_serial, _Serial(plan, request, path, limits)
                    )
                except WorkerFailed as exc:
                    raise WorkerError(f"the Life run failed: {exc}") from exc
                context.progress(plan.generations, plan.generations)
                return Outcome(_summary(result, request), path, media_type, synced=True)
            ran = await to_thread.run_sync(
                _run_if_serial, plan, request, path, limits, context.progress
            )
        else:
            ran = await to_thread.run_sync(
                _settle_and_run_if_serial, request, path, limits, context.progress
            )
        if isinstance(ran, LifeResult):
            return Outcome(_summary(ran, request), path, media_type, synced=True)
        result = await step_plan(ran, limits=limits, progress=context.progress)
        await to_thread.run_sync(partial(_write, result, path, png=request.png))
        return Outcome(_summary(result, request), path, media_type)


@final
@dataclass(frozen=True, slots=True)
class LifeRequest:
    """A Life job's parameters read once, at admission: what its run is settled from.

    ``pattern`` is the pattern parsed, or for a soup None (its cells are drawn when the job
    runs, from ``soup``: a large soup is not held while the job waits). ``rule`` and
    ``topology`` are what :func:`~service.life.run.check_life` passed. ``small``: settling
    it is microseconds of work, done on the event loop.
    """

    pattern: Pattern | None
    soup: Soup | None
    generations: int
    rule: Rule
    topology: Topology
    engine: str
    strategy: str
    workers: int | None
    png: bool
    small: bool

    def source(self, max_cells: int) -> Pattern:
        """The pattern to settle: the parsed one, or the soup's cells (blocking for a large one)."""
        if self.pattern is not None:
            return self.pattern
        assert self.soup is not None
        return self.soup.pattern(max_cells=max_cells)


def _check_source(job: LifeParams, limits: LifeSettings) -> None:
    if (job.pattern is None) == (job.random is None):
        raise BadParam(
            "params.pattern: give either pattern (RLE, .cells or Life 1.05/1.06 text) or "
            "random ('WxH[:DENSITY[:SEED]]'), "
            + ("not both" if job.pattern is not None else "one of them"),
            field="params.pattern",
        )
    if job.pattern is not None and len(job.pattern.encode()) > MAX_PATTERN_BYTES:
        raise BadParam(
            f"params.pattern: {len(job.pattern.encode()):_} bytes of pattern text, past the "
            f"limit of {MAX_PATTERN_BYTES:_} bytes (1 MiB): trim the pattern, or use the CLI",
            field="params.pattern",
        )
    if job.random is not None:
        with blame("params.random"):
            soup = parse_soup(job.random)
        _fits("random", soup.width, soup.height, limits)


def _check_universe(job: LifeParams, limits: LifeSettings) -> None:
    _one_of("topology", job.topology, KINDS)
    if job.rule is not None:
        with blame("params.rule"):
            _, bounded = parse_rule(job.rule)
        if bounded is not None:
            _fits("rule", bounded.width, bounded.height, limits)
    if job.size is not None:
        if job.topology == "infinite":
            raise BadParam(
                "params.size: a size applies to a torus or a plane, not an infinite universe",
                field="params.size",
            )
        with blame("params.size"):
            width, height = parse_size(job.size)
        _fits("size", width, height, limits)


def _within(field: str, value: int, low: int, high: int) -> None:
    if not low <= value <= high:
        raise BadParam(
            f"params.{field} = {value}: must be {low} to {high:_} (life.max_{field})",
            field=f"params.{field}",
        )


def _fits(field: str, width: int, height: int, limits: LifeSettings) -> None:
    if width * height > limits.max_cells:
        raise BadParam(
            f"params.{field}: a {width}x{height} grid has {width * height:_} cells, past "
            f"life.max_cells = {limits.max_cells:_}",
            field=f"params.{field}",
        )


def _one_of(field: str, value: str | None, allowed: tuple[str, ...]) -> None:
    if value is not None and value not in allowed:
        raise BadParam(
            f"params.{field} = {value!r}: choose one of {', '.join(allowed)}",
            field=f"params.{field}",
        )


def _settles_inline(job: LifeParams) -> bool:
    if job.pattern is not None:
        return len(job.pattern) <= _INLINE_BYTES
    with blame("params.random"):
        soup = parse_soup(job.random or "")
    return soup.width * soup.height <= _INLINE_CELLS


def _universe(job: LifeParams, pattern: Pattern) -> tuple[Rule | None, Topology]:
    """The job's rule (None: the pattern's) and universe, as its parameters name them."""
    with blame("params.rule"):
        rule, rule_topology = parse_rule(job.rule) if job.rule else (None, None)
    with blame("params.size"):
        size = parse_size(job.size) if job.size else None
        topology = resolve_topology(
            job.topology, size, rule_topology=rule_topology, pattern=pattern
        )
    return rule, topology


def _request(job: LifeParams, limits: LifeSettings) -> LifeRequest:
    """Read the job's parameters into its request and make every refusal now (blocking for a
    long pattern or a large soup; see :func:`_settles_inline`)."""
    soup: Soup | None = None
    pattern: Pattern | None = None
    if job.random is not None:
        with blame("params.random"):
            soup = parse_soup(job.random)
        # The checks see an all-dead stand-in of the soup's size: they judge sizes, not cells.
        checked = Pattern(np.zeros((soup.height, soup.width), dtype=np.uint8))
    elif job.pattern is not None:
        # PatternError keeps its type: its message already starts with params.pattern:LINE:COL.
        pattern = checked = read_pattern(
            job.pattern, source="params.pattern", max_cells=limits.max_cells
        )
    else:
        raise BadParam("params.pattern: give pattern or random", field="params.pattern")
    rule, topology = _universe(job, checked)
    rule, topology = check_life(
        checked, job.generations, limits=limits, rule=rule, topology=topology
    )
    return LifeRequest(
        pattern,
        soup,
        job.generations,
        rule,
        topology,
        job.engine or limits.default_engine,
        job.strategy or "auto",
        job.workers,
        png=job.render == "png",
        small=_settles_inline(job) and topology.width * topology.height <= _INLINE_CELLS,
    )


def _plan(request: LifeRequest, limits: LifeSettings) -> LifePlan:
    """The request settled: placed, its engine and fan-out chosen (blocking for a large one)."""
    return settle_checked(
        request.source(limits.max_cells),
        request.generations,
        limits=limits,
        rule=request.rule,
        topology=request.topology,
        engine=request.engine,
        strategy=request.strategy,
        workers=request.workers,
    )


def _is_quick(plan: LifePlan) -> bool:
    """Serial, on a fast engine, and under :data:`QUICK_WORK`: a fraction of a second."""
    work = plan.placed.width * plan.placed.height * plan.generations
    return plan.serial and plan.engine != "reference" and work < QUICK_WORK


@final
@dataclass(frozen=True, slots=True)
class _Serial:
    """A quick serial run for a worker process, by pickle."""

    plan: LifePlan
    request: LifeRequest
    path: Path
    limits: LifeSettings


def _run_serial(task: _Serial) -> LifeResult:
    """In a worker process: a quick serial plan stepped, written and synced, in one trip.

    It needs no progress on the way. Cancelling the job kills the worker, and the manager
    removes the partial file.
    """
    return _step_and_write(task.plan, task.request, task.path, task.limits)


def _settle_and_run_if_serial(
    request: LifeRequest, path: Path, limits: LifeSettings, progress: Progress
) -> LifePlan | LifeResult:
    """On a worker thread: the request settled and, when serial, stepped and written too."""
    return _run_if_serial(_plan(request, limits), request, path, limits, progress)


def _run_if_serial(
    plan: LifePlan, request: LifeRequest, path: Path, limits: LifeSettings, progress: Progress
) -> LifePlan | LifeResult:
    """On a worker thread: a serial plan stepped, its artifact written and synced, in this one
    trip; a plan that fans out comes back as it is, for :func:`step_plan` and its workers.

    A trip costs the event loop more than stepping a small pattern does, and the daemon takes
    its submissions on that loop: with a trip for each step (settle, round, write, sync), a
    glider's one generation woke the loop about 25 times.
    """
    if not plan.serial:
        return plan
    return _step_and_write(plan, request, path, limits, progress)


def _step_and_write(
    plan: LifePlan,
    request: LifeRequest,
    path: Path,
    limits: LifeSettings,
    progress: Progress | None = None,
) -> LifeResult:
    """A serial plan stepped where this runs, its artifact written and synced (blocking)."""
    result = step_plan_blocking(plan, limits=limits, progress=progress)
    _write(result, path, png=request.png)
    sync_artifact(path)
    return result


def _summary(result: LifeResult, request: LifeRequest) -> dict[str, Any]:
    summary = result.summary()
    if request.soup is not None:
        summary["seed"] = request.soup.seed
    return summary


def _write(result: LifeResult, path: Path, *, png: bool) -> None:
    if png:
        render_png(result.pattern.cells, path)
    else:
        write_pattern(_for_file(result), path)


def _for_file(result: LifeResult) -> Pattern:
    # As `fanout life -o OUT.rle` writes it: a bounded grid whole, so it reads back in place;
    # an infinite universe trimmed to its live cells.
    return result.pattern if result.topology.bounded else result.pattern.trimmed()
