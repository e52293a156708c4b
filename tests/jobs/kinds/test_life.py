"""The life kind end to end: real patterns, real engines, artifacts read back."""

from __future__ import annotations

import os
import re
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import numpy as np
import pytest
from PIL import Image

from adapters.processes import AsyncProcessPool
from service.config import LifeSettings, Settings
from service.errors import BadParam, PatternError, WorkerError
from service.jobs.context import ProcessWorkers
from service.jobs.kinds.life import (
    MAX_PATTERN_BYTES,
    PNG_MEDIA_TYPE,
    RLE_MEDIA_TYPE,
    LifeKind,
    LifeParams,
)
from service.jobs.manager import WORKER_PRELOAD
from service.life import read_pattern, run_life_async
from tests.fixtures import GLIDER_PATH
from tests.jobs.kinds._context import Context

pytestmark = pytest.mark.anyio

GLIDER = GLIDER_PATH.read_text(encoding="utf-8")
# No work to step, so it goes to a worker process, where writing 16 million cells of RLE takes
# seconds (the soup is drawn and settled first, in this process, in a fraction of that).
_SLOW_TO_WRITE = LifeParams(random="4000x4000:0.5:1", strategy="serial")
KIND = LifeKind()
SMALL = Settings(life=LifeSettings(max_cells=10_000, max_generations=100, max_workers=2))


@pytest.fixture(params=["thread", "process"])
async def processes(request: pytest.FixtureRequest) -> AsyncIterator[AsyncProcessPool | None]:
    """None (a run steps on a worker thread), or the manager's kind of worker processes."""
    if request.param == "thread":
        yield None
        return
    pool = AsyncProcessPool(1, preload=WORKER_PRELOAD)
    try:
        yield pool
    finally:
        await pool.aclose()


def _steady(summary: dict[str, Any]) -> dict[str, Any]:
    """A summary without its timings, nor the threads of the process it ran in."""
    unsteady = ("elapsed_s", "cell_updates_per_s", "peak_threads")
    return {k: v for k, v in summary.items() if k not in unsteady}


def _hidden(directory: Path) -> list[str]:
    return [path.name for path in directory.iterdir() if path.name.startswith(".")]


async def test_a_pattern_runs_and_its_rle_artifact_reads_back(
    tmp_path: Path, processes: AsyncProcessPool | None
) -> None:
    context = Context(tmp_path, processes=None if processes is None else ProcessWorkers(processes))
    params = LifeParams(pattern=GLIDER, generations=8)
    KIND.check(params, context.settings)
    outcome = await KIND.run(params, context)

    reference = await run_life_async(read_pattern(GLIDER), 8, limits=LifeSettings())
    assert _steady(outcome.result) == _steady(reference.summary())  # the CLI's --json summary
    assert outcome.result["generation"] == 8
    assert outcome.result["population"] == 5
    assert outcome.media_type == RLE_MEDIA_TYPE
    assert outcome.artifact is not None
    assert outcome.artifact.suffix == ".rle"
    final = read_pattern(outcome.artifact.read_text(encoding="utf-8"))
    assert np.array_equal(final.cells, reference.pattern.trimmed().cells)
    assert context.reports[-1] == (8, 8)


async def test_a_random_soup_on_a_torus_renders_a_png(
    tmp_path: Path, processes: AsyncProcessPool | None
) -> None:
    context = Context(tmp_path, processes=None if processes is None else ProcessWorkers(processes))
    params = LifeParams(random="40x30:0.35:7", generations=5, topology="torus", render="png")
    KIND.check(params, context.settings)
    outcome = await KIND.run(params, context)

    assert outcome.result["seed"] == 7
    assert outcome.result["topology"] == "torus"
    assert (outcome.result["width"], outcome.result["height"]) == (40, 30)
    assert outcome.media_type == PNG_MEDIA_TYPE
    assert outcome.artifact is not None
    with Image.open(outcome.artifact) as image:
        assert image.format == "PNG"
        assert image.size == (160, 120)  # 4 pixels a cell
    assert _hidden(tmp_path) == []  # no temporary file left beside the artifact


@pytest.mark.parametrize("render", ["rle", "png"])
async def test_a_serial_run_and_a_fanned_out_one_leave_the_same_artifact(
    tmp_path: Path, render: str
) -> None:
    outcomes = []
    for strategy, workers in (("serial", None), ("threads", 2)):
        (tmp_path / strategy).mkdir()
        params = LifeParams(
            random="48x40:0.4:3",
            generations=30,
            topology="torus",
            render=render,
            strategy=strategy,
            workers=workers,
        )
        outcomes.append(await KIND.run(params, Context(tmp_path / strategy)))
    serial, fanned = outcomes
    assert (serial.result["strategy"], fanned.result["strategy"]) == ("serial", "threads")
    assert serial.artifact is not None
    assert fanned.artifact is not None
    assert serial.artifact.read_bytes() == fanned.artifact.read_bytes()
    # The serial run was made in one trip to a worker thread, its artifact synced there; the
    # fanned-out one leaves that to the manager.
    assert (serial.synced, fanned.synced) == (True, False)


async def test_a_soup_without_a_seed_reports_the_one_drawn(tmp_path: Path) -> None:
    outcome = await KIND.run(LifeParams(random="16x16"), Context(tmp_path))
    assert isinstance(outcome.result["seed"], int)


async def test_rule_and_size_shape_the_universe(tmp_path: Path) -> None:
    params = LifeParams(pattern="OOO\n", generations=1, rule="B36/S23", size="8x6")
    outcome = await KIND.run(params, Context(tmp_path))
    assert outcome.result["rule"] == "B36/S23:T8,6"
    assert outcome.artifact is not None
    final = read_pattern(outcome.artifact.read_text(encoding="utf-8"))
    assert (final.width, final.height) == (8, 6)  # a bounded grid is written whole
    assert final.population == 3


async def test_a_pattern_that_does_not_parse_fails_the_run_naming_the_place(
    tmp_path: Path, processes: AsyncProcessPool | None
) -> None:
    params = LifeParams(pattern="x = 3, y = 3\nbo$2bq$3o!\n")
    KIND.check(params, Settings())  # parsing is the run's work, off the event loop
    with pytest.raises(PatternError, match=r"^params\.pattern:2:") as caught:
        await KIND.run(
            params,
            Context(tmp_path, processes=None if processes is None else ProcessWorkers(processes)),
        )
    assert (caught.value.source, caught.value.line) == ("params.pattern", 2)


@pytest.mark.parametrize("render", ["rle", "png"])
async def test_a_run_in_a_worker_process_equals_one_on_a_thread(
    tmp_path: Path, render: str
) -> None:
    params = LifeParams(random="48x40:0.4:3", generations=30, render=render)
    (tmp_path / "thread").mkdir()
    (tmp_path / "process").mkdir()
    on_thread = await KIND.run(params, Context(tmp_path / "thread"))
    pool = AsyncProcessPool(1, preload=WORKER_PRELOAD)
    try:
        in_process = await KIND.run(
            params, Context(tmp_path / "process", processes=ProcessWorkers(pool))
        )
        assert len(pool.pids) == 1  # it did run there
    finally:
        await pool.aclose()
    assert _steady(in_process.result) == _steady(on_thread.result)
    assert in_process.artifact is not None
    assert on_thread.artifact is not None
    assert in_process.artifact.read_bytes() == on_thread.artifact.read_bytes()
    assert in_process.synced
    assert _hidden(tmp_path / "process") == []


@pytest.mark.parametrize(
    "params",
    [
        LifeParams(random="48x40:0.4:3", generations=5, strategy="threads", workers=2),
        # Serial, but long: it steps on a thread, where it can report progress on the way.
        LifeParams(random="1000x1000:0.4:3", generations=21, strategy="serial"),
        # The reference engine's run: quick in cells, not in time.
        LifeParams(random="20x20:0.4:3", generations=2, engine="reference"),
    ],
    ids=["fanned-out", "long-serial", "reference-engine"],
)
async def test_runs_that_are_not_quick_and_serial_never_go_to_a_worker_process(
    tmp_path: Path, params: LifeParams
) -> None:
    pool = AsyncProcessPool(1, preload=WORKER_PRELOAD)
    try:
        context = Context(tmp_path, processes=ProcessWorkers(pool))
        outcome = await KIND.run(params, context)
        # The plan, settled once before any trip, says none of them is quick and serial.
        assert pool.pids == ()
    finally:
        await pool.aclose()
    assert outcome.result["generation"] == params.generations
    assert outcome.result["strategy"] == (params.strategy or "serial")
    assert context.reports[-1] == (params.generations, params.generations)


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        (LifeParams(generations=1), "params.pattern", "give either pattern"),
        (LifeParams(pattern=GLIDER, random="8x8"), "params.pattern", "not both"),
        (
            LifeParams(pattern="O" * (MAX_PATTERN_BYTES + 1)),
            "params.pattern",
            "past the limit of 1_048_576 bytes",
        ),
        (
            LifeParams(pattern=GLIDER, generations=101),
            "params.generations",
            "params.generations = 101: must be 0 to 100 (life.max_generations)",
        ),
        (
            LifeParams(pattern=GLIDER, workers=3),
            "params.workers",
            "params.workers = 3: must be 1 to 2 (life.max_workers)",
        ),
        (
            LifeParams(random="200x200"),
            "params.random",
            "a 200x200 grid has 40_000 cells, past life.max_cells = 10_000",
        ),
        (LifeParams(random="lots"), "params.random", "random soup 'lots'"),
        (LifeParams(pattern=GLIDER, size="101x100"), "params.size", "10_100 cells"),
        (LifeParams(pattern=GLIDER, size="big"), "params.size", "size 'big' is not WxH"),
        (LifeParams(pattern=GLIDER, rule="B3/S23:T200,200"), "params.rule", "40_000 cells"),
        (LifeParams(pattern=GLIDER, rule="B9/S23"), "params.rule", "neighbour count of 9"),
        (
            LifeParams(pattern=GLIDER, topology="infinite", size="8x8"),
            "params.size",
            "not an infinite universe",
        ),
        (
            LifeParams(pattern=GLIDER, topology="sphere"),
            "params.topology",
            "params.topology = 'sphere': choose one of infinite, torus, plane",
        ),
        (LifeParams(pattern=GLIDER, engine="fast"), "params.engine", "choose one of auto,"),
        (LifeParams(pattern=GLIDER, strategy="magic"), "params.strategy", "serial"),
        (
            LifeParams(pattern=GLIDER, render="gif"),
            "params.render",
            "params.render = 'gif': choose one of rle, png",
        ),
    ],
)
def test_check_refuses_with_the_field_and_what_is_allowed(
    params: LifeParams, field: str, message: str
) -> None:
    with pytest.raises(BadParam, match=re.escape(message)) as caught:
        KIND.check(params, SMALL)
    assert caught.value.field == field


def test_params_refuse_unknown_fields_and_are_frozen() -> None:
    import msgspec

    with pytest.raises(msgspec.ValidationError, match="unknown field `generation`"):
        msgspec.convert({"pattern": GLIDER, "generation": 3}, LifeParams)
    with pytest.raises(msgspec.ValidationError, match=r"\$\.generations"):
        msgspec.convert({"pattern": GLIDER, "generations": -1}, LifeParams)
    params = msgspec.convert({"random": "8x8:0.5:1", "generations": 2}, LifeParams)
    with pytest.raises(AttributeError):
        params.generations = 3  # type: ignore[misc]  # frozen on purpose: the assignment must fail
    assert KIND.timeout_s(Settings()) is None


@pytest.fixture
async def warm(tmp_path: Path) -> AsyncIterator[tuple[AsyncProcessPool, int]]:
    """A pool of one worker process that has run a job, and that worker's process id."""
    pool = AsyncProcessPool(1, preload=WORKER_PRELOAD)
    try:
        await KIND.run(
            LifeParams(pattern=GLIDER), Context(tmp_path, processes=ProcessWorkers(pool))
        )
        (worker,) = pool.pids
        yield pool, worker
    finally:
        await pool.aclose()


async def test_cancelling_a_run_in_a_worker_process_kills_the_worker(
    tmp_path: Path, warm: tuple[AsyncProcessPool, int]
) -> None:
    pool, worker = warm
    with anyio.move_on_after(1.0) as scope:
        await KIND.run(_SLOW_TO_WRITE, Context(tmp_path, processes=ProcessWorkers(pool)))
    assert scope.cancelled_caught
    assert pool.pids == ()
    with pytest.raises(ProcessLookupError):
        os.kill(worker, 0)


async def test_a_worker_process_that_dies_fails_the_run_saying_so(
    tmp_path: Path, warm: tuple[AsyncProcessPool, int]
) -> None:
    pool, worker = warm
    async with anyio.create_task_group() as group:

        async def run() -> None:
            with pytest.raises(
                WorkerError, match=r"the Life run failed: the worker process died: .*SIGKILL"
            ):
                await KIND.run(_SLOW_TO_WRITE, Context(tmp_path, processes=ProcessWorkers(pool)))

        group.start_soon(run)
        await anyio.sleep(1.0)
        os.kill(worker, signal.SIGKILL)  # as the kernel's OOM killer would
    assert pool.pids == ()
