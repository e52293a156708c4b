"""``fanout pipeline``: the sources, the options, a live board of the stages, and the report.

The command holds no pipeline of its own. It reads the sources (a file or stdin, one a line),
turns the options into an :class:`~service.pipeline.images.ImageJob`, finds the password as
``fanout encrypt`` does when ``--encrypt`` is given, calls
:func:`~service.pipeline.images.run_images`, and prints the manifest: a summary and one line
per failed image, or one JSON object.

It is longer than ~300 lines because the command's options, the sources file, the live board
of the stages and the report are one command's, read top to bottom.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import IO, TYPE_CHECKING, Any, Final, Literal, TypeVar, final

import anyio
import click

from service.cli.app import settings_of
from service.cli.interrupt import until_interrupted
from service.cli.password import find_password, is_terminal
from service.config import PipelineSettings, Settings
from service.crypto import openssl_for
from service.errors import InvalidInput, LimitExceeded
from service.pipeline import FORMATS, MODES, Box, Manifest, Progress, StageCounts
from service.pipeline.destination import Destination
from service.pipeline.images import ImageJob, item_summary, run_images

if TYPE_CHECKING:
    from rich.table import Table

__all__ = ["STAGES", "PipelineRequest", "parse_workers", "pipeline_options", "run_image_pipeline"]

STAGES: Final = ("download", "resize", "encrypt", "upload")
ENGINES: Final = ("async", "threads")
MAX_WORKERS: Final = 1024
MAX_SOURCES_LINES: Final = 1_000_000
# Far longer than any URL a server accepts or any path the OS opens: a longer line is a
# mistake (a binary file given as SOURCES), refused before it fills memory.
MAX_LINE_BYTES: Final = 16_384

_SHIPPED: Final = PipelineSettings()
_Command = TypeVar("_Command", bound=Callable[..., object])


@final
@dataclass(frozen=True, slots=True)
class PipelineRequest:
    """One ``fanout pipeline`` command line, as click parsed it."""

    sources: str
    dest: str
    size: str | None
    mode: str | None
    format: str | None
    quality: int | None
    workers: str | None
    engine: Literal["async", "threads"]
    encrypt: bool
    password_file: str | None
    as_json: bool


def pipeline_options(command: _Command) -> _Command:
    """SOURCES, ``--dest`` and the options that shape the job."""
    decorators = [
        click.argument("sources", metavar="SOURCES"),
        click.option(
            "--dest",
            required=True,
            metavar="DIR|URL",
            help="An existing directory (files written atomically), or a base URL to PUT under.",
        ),
        click.option("--size", metavar="WxH", help=_default("Box to resize into", "size")),
        click.option(
            "--mode",
            type=click.Choice(MODES),
            help=_default("fit: all inside the box; cover: fill it, cropping", "mode"),
        ),
        click.option("--format", type=click.Choice(FORMATS), help=_default("Encoding", "format")),
        click.option(
            "--quality",
            type=click.IntRange(1, 100),
            metavar="Q",
            help=_default("webp / jpeg quality", "quality"),
        ),
        click.option(
            "--workers",
            metavar="STAGE=N,...",
            help="Workers per stage (download, resize, encrypt, upload), N 1 to "
            f"{MAX_WORKERS}, e.g. download=16,resize=2 (default: [pipeline] download_workers; "
            "resize_workers for resize and encrypt, where 0 is one more than the cores; "
            "upload_workers).",
        ),
        click.option(
            "--engine",
            type=click.Choice(ENGINES),
            default="async",
            show_default=True,
            help="Stages on coroutines, or on worker threads and queues.",
        ),
        click.option("--encrypt", is_flag=True, help="Encrypt each image; names end in .enc."),
        click.option(
            "--password-file",
            metavar="FILE",
            help="With --encrypt: read the password from FILE's first line.",
        ),
        click.option("--json", "as_json", is_flag=True, help="Print the manifest as JSON."),
    ]
    for decorate in reversed(decorators):
        command = decorate(command)
    return command


def _default(text: str, key: str) -> str:
    return f"{text} (default: [pipeline] {key} = {getattr(_SHIPPED, key)})."


def parse_workers(text: str) -> dict[str, int]:
    """``"download=16,resize=2"`` → ``{"download": 16, "resize": 2}``; InvalidInput if bad."""
    workers: dict[str, int] = {}
    for part in text.split(","):
        stage, equals, number = (piece.strip() for piece in part.partition("="))
        if not equals:
            raise InvalidInput(
                f"--workers {text!r}: {part.strip()!r} is not STAGE=N; give pairs separated by "
                "commas, such as download=16,resize=2"
            )
        if stage not in STAGES:
            raise InvalidInput(
                f"--workers {text!r}: unknown stage {stage!r}: choose {', '.join(STAGES)}"
            )
        if not (number.isascii() and number.isdigit() and 1 <= int(number) <= MAX_WORKERS):
            raise InvalidInput(
                f"--workers {text!r}: {stage}={number}: N must be 1 to {MAX_WORKERS}"
            )
        if stage in workers:
            raise InvalidInput(f"--workers {text!r}: {stage} is given twice")
        workers[stage] = int(number)
    return workers


def read_sources(name: str) -> list[str]:
    """The URLs and paths in file ``name`` (``-``: stdin), one a line; ``#`` starts a comment."""
    shown = "stdin" if name == "-" else repr(name)
    with _opened(name) as stream:
        sources = _parse_sources(stream, shown)
    if not sources:
        raise InvalidInput(f"no sources in {shown}: give one URL or path a line")
    return sources


@contextmanager
def _opened(name: str) -> Iterator[IO[bytes]]:
    if name == "-":
        yield sys.stdin.buffer
        return
    try:
        stream = open(name, "rb")  # noqa: SIM115 - closed by the with below, errors mapped
    except FileNotFoundError as exc:
        raise InvalidInput(f"sources file {name!r} does not exist") from exc
    except OSError as exc:
        raise InvalidInput(f"cannot read sources file {name!r}: {exc.strerror or exc}") from exc
    with stream:
        yield stream


def _parse_sources(stream: IO[bytes], shown: str) -> list[str]:
    sources: list[str] = []
    lines = iter(partial(stream.readline, MAX_LINE_BYTES + 1), b"")
    try:
        for number, raw in enumerate(lines, 1):
            if number > MAX_SOURCES_LINES:
                raise LimitExceeded(
                    f"{shown} has more than {MAX_SOURCES_LINES:,} lines: split it into several runs"
                )
            if (line := _source_line(raw, shown, number)) is not None:
                sources.append(line)
    except OSError as exc:
        raise InvalidInput(f"cannot read {shown}: {exc.strerror or exc}") from exc
    return sources


def _source_line(raw: bytes, shown: str, number: int) -> str | None:
    """The URL or path on line ``number``, or None for a blank line or a comment."""
    if len(raw.removesuffix(b"\n")) > MAX_LINE_BYTES:
        raise LimitExceeded(
            f"{shown} line {number}: longer than {MAX_LINE_BYTES:,} bytes; "
            "give one URL or path a line"
        )
    try:
        line = raw.decode().strip()
    except UnicodeDecodeError:
        raise InvalidInput(f"{shown} line {number}: not UTF-8 text") from None
    return line if line and not line.startswith("#") else None


def run_image_pipeline(request: PipelineRequest, settings: Settings) -> int:
    """Check the request, run the pipeline, print the manifest; the exit status (0 or 1)."""
    limits, job = _job(request, settings.pipeline)
    destination = Destination.parse(request.dest)
    sources = read_sources(request.sources)
    if request.encrypt:
        can_prompt = request.sources != "-" and is_terminal(sys.stdin)
        password = find_password(request.password_file, confirm=True, can_prompt=can_prompt)
        job = dataclasses.replace(job, password=password)
    deliver = partial(_deliver, sources, destination, job, limits, settings, request.engine)
    started = time.perf_counter()
    try:
        with _board(len(sources), enabled=is_terminal(sys.stderr)) as progress:
            manifest = anyio.run(until_interrupted, partial(deliver, progress))
    finally:
        if job.password is not None:
            job.password.wipe()
    if manifest is None:
        raise KeyboardInterrupt
    _report(manifest, request, time.perf_counter() - started)
    return 0 if manifest.failed == 0 else 1


def _job(request: PipelineRequest, limits: PipelineSettings) -> tuple[PipelineSettings, ImageJob]:
    """The job the options ask for, and the settings with their worker counts."""
    if request.password_file is not None and not request.encrypt:
        raise InvalidInput("--password-file goes with --encrypt")
    try:
        box = Box.parse(request.size or limits.size)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from exc
    workers = parse_workers(request.workers) if request.workers is not None else {}
    # The HTTP client sizes its connection pool from the settings' worker counts: keep them
    # in step with --workers, or 64 download workers would share 16 connections to a host.
    limits = dataclasses.replace(
        limits,
        download_workers=workers.get("download", limits.download_workers),
        upload_workers=workers.get("upload", limits.upload_workers),
    )
    job = ImageJob(
        box,
        mode=request.mode or limits.mode,
        format=request.format or limits.format,
        quality=request.quality if request.quality is not None else limits.quality,
        workers=workers,
    )
    return limits, job


async def _deliver(
    sources: list[str],
    destination: Destination,
    job: ImageJob,
    limits: PipelineSettings,
    settings: Settings,
    engine: Literal["async", "threads"],
    progress: Progress | None,
) -> Manifest:
    if job.password is not None:
        await openssl_for(settings.crypto)  # one clear error now, not one per image
    return await run_images(
        sources,
        destination,
        job,
        settings=limits,
        crypto=settings.crypto,
        engine=engine,
        progress=progress,
    )


@final
class _Board:
    """The stages' counters as the last callback left them; rich.live's thread draws them.

    The callback only swaps in a new tuple of numbers (one reference, so the drawing thread
    never sees half an update); drawing happens a few times a second, however often items move.
    """

    __slots__ = ("_rows", "_started", "_total")

    def __init__(self, total: int) -> None:
        self._total = total
        self._rows: tuple[tuple[str, int, int, int, int, int], ...] = ()
        self._started = time.monotonic()

    def update(self, counts: tuple[StageCounts, ...]) -> None:
        self._rows = tuple(
            (c.name, c.received, c.passed, c.failed, c.in_flight, c.retries) for c in counts
        )

    def __rich__(self) -> Table:
        from rich.table import Table

        rows = self._rows
        done = sum(row[3] for row in rows) + (rows[-1][2] if rows else 0)
        elapsed = time.monotonic() - self._started
        table = Table(
            title=f"{done} of {self._total} images done, {elapsed:.1f} s",
            title_justify="left",
            box=None,
        )
        table.add_column("stage")
        for heading in ("received", "passed", "failed", "in flight", "retries"):
            table.add_column(heading, justify="right")
        for name, *numbers in rows:
            table.add_row(name, *map(str, numbers))
        return table


@contextmanager
def _board(total: int, *, enabled: bool) -> Iterator[Progress | None]:
    """A live table of the stages on a terminal's stderr; nothing otherwise."""
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.live import Live

    board = _Board(total)
    with Live(board, console=Console(stderr=True), refresh_per_second=4, transient=True):
        yield board.update


def _report(manifest: Manifest, request: PipelineRequest, elapsed_s: float) -> None:
    if request.as_json:
        click.echo(json.dumps(_summary(manifest, request, elapsed_s)))
        return
    for outcome in manifest.outcomes:
        if not outcome.ok:
            error = " ".join((outcome.error or "").split())  # one line, whatever openssl said
            click.echo(f"FAILED {outcome.source}: {outcome.stage}: {error}", err=True)
    total = len(manifest.outcomes)
    line = (
        f"{manifest.succeeded} of {total} image{'s' * (total != 1)} delivered to {request.dest} "
        f"in {elapsed_s:.1f} s"
    )
    click.echo(line + (f"; {manifest.failed} failed" if manifest.failed else ""), err=True)


def _summary(manifest: Manifest, request: PipelineRequest, elapsed_s: float) -> dict[str, Any]:
    return {
        "succeeded": manifest.succeeded,
        "failed": manifest.failed,
        "total": len(manifest.outcomes),
        "elapsed_s": round(elapsed_s, 3),
        "engine": request.engine,
        "items": [item_summary(outcome) for outcome in manifest.outcomes],
    }


@click.command()
@pipeline_options
@click.pass_context
def pipeline(ctx: click.Context, /, **options: Any) -> int:
    """Download images, resize them, (encrypt them,) and deliver them to --dest.

    SOURCES is a file with one http(s) URL or local path a line (blank lines and lines
    starting with # are skipped), or - for stdin. Each image is resized into --size, encoded
    as --format, and written into the directory --dest (atomically) or PUT under the base URL
    --dest, named after its source. With --encrypt each image is also encrypted as `fanout
    encrypt` would, and its name ends in .enc (e.g. photo-1a2b3c4d5e.webp.enc); the password
    comes from --password-file, else FANOUT_PASSWORD, else a prompt on a terminal.

    Options default to the [pipeline] settings of the config (or FANOUT_PIPELINE__<KEY>).
    Downloads are guarded against SSRF: loopback, private and link-local addresses are
    refused unless [pipeline] allow_private is true (it is false by default), e.g.
    FANOUT_PIPELINE__ALLOW_PRIVATE=true for a server on this machine; local paths need
    [pipeline] allow_files (true by default).

    Prints a summary and one FAILED line per image that failed (or, with --json, the whole
    manifest on stdout). Exit status: 0 when every image was delivered, 1 when any failed,
    2 for bad usage.
    """
    return run_image_pipeline(PipelineRequest(**options), settings_of(ctx))
