"""The ``life`` job: step a pattern (or a random soup) N generations, as ``fanout life`` does.

The result is the summary ``fanout life --json`` prints (plus ``seed`` for a soup); the
artifact is the final generation as RLE (``text/plain; charset=utf-8``, so a browser shows it)
or as a PNG (``image/png``) with ``render = "png"``. Progress counts generations.

:meth:`LifeKind.check` refuses at submission what can be judged without work: both or neither
of ``pattern`` and ``random``, pattern text past :data:`MAX_PATTERN_BYTES`, generations,
workers and grid sizes past the ``[life]`` limits, unknown rules, topologies, engines and
strategies. :meth:`LifeKind.admit` then settles the run as :meth:`LifeKind.run` will, before
the job is accepted: a pattern that does not parse, a grid it does not fit, a rule its universe
cannot hold get their 400 with the message ``fanout life`` gives. A short pattern (a glider:
about 16 us) is checked on the event loop; a longer one, or a large soup, on a worker thread,
as a megabyte of RLE is too much work for the loop that takes submissions.

A small serial run (what ``auto`` makes of all small work) is parsed, stepped, written and
synced in one of the manager's worker processes (``[jobs] worker_processes``), so its work takes
nothing of the GIL the event loop needs; without them, in one trip to a worker thread. A run
that fans out comes back to the event loop for its workers, and a long serial one steps on a
thread, where it reports progress as it goes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, ClassVar, Final, final

import msgspec
import numpy as np
from anyio import to_thread

from adapters.processes import AsyncProcessPool, TaskFailed, WorkerCrashed
from service.config import LifeSettings, Settings
from service.errors import BadParam, WorkerError
from service.jobs.artifacts import sync_artifact
from service.jobs.kind import JobContext, Outcome
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
    settle_life,
    step_plan,
    step_plan_blocking,
)
from service.life.soup import parse_soup
from service.life.strategies import SERIAL_WORK, STRATEGY_NAMES
from service.life.topology import KINDS, Topology, parse_size
from service.life.universe import Progress, place

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

    async def admit(self, params: msgspec.Struct, settings: Settings) -> None:
        """Settle the run (parse, place, check) as :meth:`run` will: its errors, now."""
        job, limits = expect(params, LifeParams), settings.life
        if _settles_inline(job):
            _admit(job, limits)
        else:
            await to_thread.run_sync(_admit, job, limits)

    def timeout_s(self, settings: Settings) -> float | None:
        """None: a run is bounded by its generations and cells, and stops when cancelled."""
        return None

    def max_running(self, settings: Settings) -> int:
        """``[jobs] max_running_life``: Life steps on two cores, in worker processes or on this
        process's threads."""
        return settings.jobs.max_running_life

    async def run(self, params: msgspec.Struct, context: JobContext) -> Outcome:
        job, limits = expect(params, LifeParams), context.settings.life
        png = job.render == "png"
        path = context.artifact_path(".png" if png else ".rle")
        media_type = PNG_MEDIA_TYPE if png else RLE_MEDIA_TYPE
        if context.processes is not None and job.strategy in (None, "auto", "serial"):
            summary = await _in_process(context.processes, _Task(job, limits, path))
            if summary is not None:
                context.progress(job.generations, job.generations)
                return Outcome(summary, path, media_type, synced=True)
        ran, seed = await to_thread.run_sync(_serially, job, limits, path, context.progress)
        if isinstance(ran, LifeResult):
            return Outcome(_summary(ran, seed), path, media_type, synced=True)
        result = await step_plan(ran, limits=limits, progress=context.progress)
        await to_thread.run_sync(_write, result, png, path)
        return Outcome(_summary(result, seed), path, media_type)


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


def _source(job: LifeParams, max_cells: int) -> tuple[Pattern, int | None]:
    """The starting pattern and, for a soup, its seed (blocking: run on a worker thread)."""
    if job.random is not None:
        with blame("params.random"):
            recipe = parse_soup(job.random)
        return recipe.pattern(max_cells=max_cells), recipe.seed
    if job.pattern is None:
        raise BadParam("params.pattern: give pattern or random", field="params.pattern")
    # PatternError keeps its type: its message already starts with params.pattern:LINE:COL.
    return read_pattern(job.pattern, source="params.pattern", max_cells=max_cells), None


@final
@dataclass(frozen=True, slots=True)
class _Task:
    """A run for a worker process: what :func:`_quickly` needs, by pickle."""

    job: LifeParams
    limits: LifeSettings
    path: Path


async def _in_process(processes: AsyncProcessPool, task: _Task) -> dict[str, Any] | None:
    try:
        return await processes.run(_quickly, task)
    except WorkerCrashed as exc:
        raise WorkerError(f"the Life worker process died: {exc}") from exc
    except TaskFailed as exc:  # an exception that could not travel back as itself
        raise WorkerError(f"the Life run failed in a worker process: {exc}") from exc


def _quickly(task: _Task) -> dict[str, Any] | None:
    """In a worker process: a quick serial run parsed, stepped, written and synced; its
    summary. None, having written nothing, for any other run: it steps on threads instead.

    A quick run is one ``auto`` would run serially (under :data:`QUICK_WORK` cell-updates) on
    a fast engine, a fraction of a second: it needs no progress on the way. (The reference
    engine, in pure Python, is thousands of times slower.) Cancelling the job kills the worker,
    and the manager removes the partial file.
    """
    job, limits = task.job, task.limits
    plan, seed = _settled(job, limits)
    work = plan.placed.width * plan.placed.height * plan.generations
    if not plan.serial or plan.engine == "reference" or work >= QUICK_WORK:
        return None
    return _summary(_stepped_and_written(plan, job, limits, task.path), seed)


def _serially(
    job: LifeParams, limits: LifeSettings, path: Path, progress: Progress
) -> tuple[LifePlan | LifeResult, int | None]:
    """On a worker thread: the pattern read and the run settled; a serial run stepped too
    and its artifact written and synced, all in this one trip to the thread.

    A trip costs the event loop more than stepping a small pattern does, and the daemon takes
    its submissions on that loop: with a trip for each step (parse, round, write, sync), a
    glider's one generation woke the loop about 25 times. A run that fans out comes back as
    its plan, for :func:`step_plan` to step with its workers.
    """
    plan, seed = _settled(job, limits)
    if not plan.serial:
        return plan, seed
    return _stepped_and_written(plan, job, limits, path, progress), seed


def _stepped_and_written(
    plan: LifePlan,
    job: LifeParams,
    limits: LifeSettings,
    path: Path,
    progress: Progress | None = None,
) -> LifeResult:
    """A serial plan stepped where this runs, its artifact written and synced (blocking)."""
    result = step_plan_blocking(plan, limits=limits, progress=progress)
    _write(result, job.render == "png", path)
    sync_artifact(path)
    return result


def _settles_inline(job: LifeParams) -> bool:
    if job.pattern is not None:
        return len(job.pattern) <= _INLINE_BYTES
    with blame("params.random"):
        soup = parse_soup(job.random or "")
    return soup.width * soup.height <= _INLINE_CELLS


def _admit(job: LifeParams, limits: LifeSettings) -> None:
    """What settling the run would refuse, on its pattern or on an all-dead stand-in of a
    soup's size (blocking); without settling's choices, which refuse nothing ``check`` let by."""
    if job.pattern is not None:
        pattern = _source(job, limits.max_cells)[0]
    else:
        with blame("params.random"):
            soup = parse_soup(job.random or "")
        pattern = Pattern(np.zeros((soup.height, soup.width), dtype=np.uint8))
    rule, topology = _universe(job, pattern)
    _, topology = check_life(pattern, job.generations, limits=limits, rule=rule, topology=topology)
    if topology.bounded:
        place(pattern, topology)


def _settled(job: LifeParams, limits: LifeSettings) -> tuple[LifePlan, int | None]:
    """The pattern read and the run settled (blocking); the plan and a soup's seed."""
    pattern, seed = _source(job, limits.max_cells)
    return _plan(job, limits, pattern), seed


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


def _plan(job: LifeParams, limits: LifeSettings, pattern: Pattern) -> LifePlan:
    rule, topology = _universe(job, pattern)
    return settle_life(
        pattern,
        job.generations,
        limits=limits,
        rule=rule,
        topology=topology,
        engine=job.engine or limits.default_engine,
        strategy=job.strategy or "auto",
        workers=job.workers,
    )


def _summary(result: LifeResult, seed: int | None) -> dict[str, Any]:
    summary = result.summary()
    if seed is not None:
        summary["seed"] = seed
    return summary


def _write(result: LifeResult, png: bool, path: Path) -> None:
    if png:
        render_png(result.pattern.cells, path)
    else:
        write_pattern(_for_file(result), path)


def _for_file(result: LifeResult) -> Pattern:
    # As `fanout life -o OUT.rle` writes it: a bounded grid whole, so it reads back in place;
    # an infinite universe trimmed to its live cells.
    return result.pattern if result.topology.bounded else result.pattern.trimmed()
