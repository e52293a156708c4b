"""The image pipeline benchmark: both engines against their I/O bound, and against a serial loop.

Three tables from one run (``python -m bench.pipeline``), loopback only:

1. I/O: 2,000 tiny JPEGs (32x32, so resizing costs next to nothing) downloaded, resized to
   WebP and uploaded, the server holding every download and every upload 20 ms; 16 download
   and 16 upload workers make the bound 16 / 20 ms = 800 items/s. Beside the image pipeline on
   each engine: a download -> upload pipeline of two :class:`Stage` objects on the same
   ``HttpClient`` (the engines without resizing), and the anchor: 16 tasks downloading and 16
   uploading in plain loops on that client, no engine between them. Best of 3, in turns. The
   median of 50 downloads made one at a time shows the delay the server really keeps.
2. Memory: 1,000 downloads at once (the server holds each 200 ms) through the image pipeline
   with 1,000 download workers, each engine in a fresh interpreter: its peak RSS (``VmHWM``)
   and its peak thread count.
3. CPU: 200 photo-like 1920x1080 JPEGs resized into 256x256 WebP by the pipeline with its
   default resize workers (one more than the cores), on threads and on processes, beside the
   anchor: a plain serial loop reading each file, making the same ``adapters.imaging.resize``
   call, and writing the result. Both read local files and write to a local directory (a read
   from the page cache; a 5 KiB write); the resize stage alone, on the photos in memory, shows
   the engine's part. Best of 5, in turns.

The server is the tests' (``tests.pipeline._server``, so this runs from a source checkout, as
``make bench`` does), each instance in an interpreter of its own so that serving is charged
neither to the pipeline's event loop nor to its GIL. Sources and uploads are on two servers,
as they would be on two hosts: the image pipeline allows ``max(download, upload workers)``
connections per host, so one host serving both shares 16 connections between 32 workers
(table 1's row "one server for both"). Table 1's servers wait in select(2) rather than
epoll(7), which would hold each request about half a millisecond past its 20 ms
(:func:`serve_until_closed`).
"""

from __future__ import annotations

import asyncio
import json
import os
import selectors
import shlex
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from functools import partial
from importlib.metadata import version
from pathlib import Path
from typing import Final, Literal, final

import anyio
from anyio import create_task_group, to_thread

from adapters.http_io import HttpClient, Policy
from adapters.imaging import Box, resize
from service.config import PipelineSettings
from service.pipeline import Manifest, Retry, Stage, run_pipeline, run_pipeline_threads
from service.pipeline.destination import Destination
from service.pipeline.images import Delivered, ImageJob, cpu_workers, run_images
from service.system.memory import status_mib

__all__ = ["main", "rss_one", "serve_until_closed"]

Engine = Literal["async", "threads"]
ENGINES: Final[tuple[Engine, ...]] = ("async", "threads")
Waits = Literal["select", "epoll"]
WAITS: Final[tuple[Waits, ...]] = ("select", "epoll")
JOB: Final = ImageJob(Box(256, 256), mode="fit", format="webp")
TINY: Final = 32  # pixels a side
ITEMS: Final = 2_000
LONE: Final = 50  # downloads made one at a time, for the delay the server really keeps
IO_DELAY_S: Final = 0.020
IO_WAITS: Final[Waits] = "select"  # see serve_until_closed
IO_WORKERS: Final = 16  # the default download_workers and upload_workers
BOUND: Final = IO_WORKERS / IO_DELAY_S  # items/s: each worker finishes one per delay at best
IO_SETTINGS: Final = PipelineSettings(
    allow_private=True, download_workers=IO_WORKERS, upload_workers=IO_WORKERS
)
CROWD: Final = 1_000
CROWD_DELAY_S: Final = 0.200
CROWD_WAITS: Final[Waits] = "epoll"
PHOTOS: Final = 200
PHOTO_SIZE: Final = (1920, 1080)
RESIZE_WORKERS: Final = cpu_workers(PipelineSettings())  # the default: one more than the cores
CPU_RUNNERS: Final = ("thread", "process")
IO_REPEATS: Final = 3
# Table 3 needs both cores to itself: more turns give it more chances of a quiet spell.
CPU_REPEATS: Final = 5
SAMPLE_S: Final = 0.005

Side = Callable[[], Awaitable[Manifest | None]]
"""One side of table 1 or 3: a run to time; pipelines give their manifest, anchors None."""


@final
@dataclass(frozen=True, slots=True)
class Row:
    """One side of table 1 or 3: its best time, this process's CPU time then, and its check."""

    name: str
    seconds: float
    cpu_s: float
    check: str


@final
@dataclass(frozen=True, slots=True)
class Memory:
    """One engine in table 2 (measured in a fresh interpreter by :func:`rss_one`)."""

    engine: str
    seconds: float
    peak_in_flight: int
    peak_threads: int
    baseline_mib: float
    peak_mib: float
    check: str


def serve_until_closed(delay_s: float, count: int, waits: Waits) -> None:
    """Serve ``/img/tiny-{n}.jpg`` for n < ``count`` and take uploads, until stdin closes.

    Prints the base URL first, on a line of its own. ``waits`` names the system call its event
    loop waits in. ``select`` takes its timeout in microseconds, so a request held 20 ms is let
    go 20 ms later. ``epoll`` takes whole milliseconds and asyncio rounds each wait up to the
    next one, so requests due within the same millisecond go together, late: under table 1's
    load a server on epoll held its requests 20.6 ms on average (p90 21.1 ms), and 20.2 ms
    (p90 20.4 ms) on select. Table 2 keeps epoll: its 1,000 connections come near the 1,024
    descriptors select can watch, and 200 ms hide a millisecond.
    """
    from tests.pipeline._server import jpeg, serve  # here: numpy, which --rss must not carry

    async def run() -> None:
        async with serve(delay_s=delay_s) as served:
            tiny = jpeg(TINY, TINY)
            served.images.update((f"tiny-{n}.jpg", tiny) for n in range(count))
            print(served.base, flush=True)
            await to_thread.run_sync(sys.stdin.read)

    if waits == "select":
        anyio.run(run, backend_options={"loop_factory": _select_loop})
    else:
        anyio.run(run)


def _select_loop() -> asyncio.AbstractEventLoop:
    return asyncio.SelectorEventLoop(selectors.SelectSelector())


@contextmanager
def _server(delay_s: float, count: int, waits: Waits) -> Iterator[str]:
    """A loopback server in an interpreter of its own (see :func:`serve_until_closed`)."""
    argv = [sys.executable, "-m", "bench.pipeline", "--serve", str(delay_s), str(count), waits]
    with subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) as server:
        assert server.stdout is not None
        base = server.stdout.readline().strip()
        if not base:
            raise RuntimeError(f"the server did not start: {shlex.join(argv)}")
        yield base  # leaving the with closes its stdin, and the server stops at that end


def _tiny_sources(base: str, count: int) -> list[str]:
    return [f"{base}/img/tiny-{n}.jpg" for n in range(count)]


def _check(manifest: Manifest | None) -> str:
    if manifest is None:
        return "-"
    failed = [outcome for outcome in manifest.outcomes if not outcome.ok]
    if not failed:
        return f"{manifest.succeeded} ok"
    return f"{len(failed)} failed, first in {failed[0].stage}: {failed[0].error}"


async def _best(
    sides: Mapping[str, Side], check: Callable[[Manifest | None], str], repeats: int
) -> list[Row]:
    runs: dict[str, list[Row]] = {name: [] for name in sides}
    for _ in range(repeats):  # in turns, so a slow spell of the machine hits every side
        for name, side in sides.items():
            wall, cpu = time.perf_counter(), time.process_time()
            result = await side()
            seconds, cpu_s = time.perf_counter() - wall, time.process_time() - cpu
            runs[name].append(Row(name, seconds, cpu_s, check(result)))
    # The best time, with every run's check (a failure in any run must show).
    return [
        replace(min(each, key=lambda row: row.seconds), check=_every(row.check for row in each))
        for each in runs.values()
    ]


def _every(checks: Iterable[str]) -> str:
    return " / ".join(dict.fromkeys(checks))


def _io_policy() -> Policy:
    """What the image pipeline's client gets from ``IO_SETTINGS``, for the bare stages."""
    workers = IO_SETTINGS.download_workers + IO_SETTINGS.upload_workers
    return Policy(allow_private=True, connections=workers, connections_per_host=IO_WORKERS)


async def _images(sources: list[str], uploads: str, engine: Engine) -> Manifest:
    destination = Destination(url=f"{uploads}/upload/")
    return await run_images(sources, destination, JOB, settings=IO_SETTINGS, engine=engine)


async def _transfers(sources: list[str], uploads: str, engine: Engine) -> Manifest:
    """Download -> upload as two stages with the image pipeline's workers, limits and retries."""
    retry = Retry(IO_SETTINGS.attempts, IO_SETTINGS.backoff_base_s, IO_SETTINGS.backoff_max_s)
    timeout = IO_SETTINGS.stage_timeout_s
    async with HttpClient(_io_policy()) as client:

        async def download(source: str) -> tuple[str, bytes]:
            return source, (await client.download(source)).data

        async def upload(item: tuple[str, bytes]) -> int:
            name = item[0].rsplit("/", 1)[-1]
            return await client.upload(
                f"{uploads}/upload/{name}", item[1], content_type="image/jpeg"
            )

        stages = [
            Stage("download", download, IO_WORKERS, "async", timeout, retry),
            Stage("upload", upload, IO_WORKERS, "async", timeout, retry),
        ]
        run = run_pipeline if engine == "async" else run_pipeline_threads
        return await run(stages, sources, buffer=IO_SETTINGS.buffer)


async def _loops(sources: list[str], uploads: str, body: bytes) -> None:
    """The anchor: 16 tasks download and 16 upload, each in a plain loop, on one client."""
    downloads, names = iter(sources), iter(range(len(sources)))
    async with HttpClient(_io_policy()) as client:

        async def get() -> None:
            for source in downloads:
                await client.download(source)

        async def put() -> None:
            for n in names:
                await client.upload(f"{uploads}/upload/loop-{n}", body, content_type="image/webp")

        async with create_task_group() as group:
            for _ in range(IO_WORKERS):
                group.start_soon(get)
                group.start_soon(put)


async def _lone_s(sources: list[str]) -> float:
    """The median time of a download made alone: the delay as the server really keeps it."""
    times = []
    async with HttpClient(_io_policy()) as client:
        for source in sources:
            started = time.perf_counter()
            await client.download(source)
            times.append(time.perf_counter() - started)
    return statistics.median(times)


def _io(tiny: bytes) -> tuple[float, list[Row]]:
    """Table 1, and the time a lone download takes."""
    body = _resized_bytes(tiny)  # what the image pipeline uploads
    with (
        _server(IO_DELAY_S, ITEMS, IO_WAITS) as origin,
        _server(IO_DELAY_S, 0, IO_WAITS) as uploads,
    ):
        sources = _tiny_sources(origin, ITEMS)
        lone = anyio.run(_lone_s, sources[:LONE])
        sides: dict[str, Side] = {}
        for engine, label in zip(ENGINES, ("async", "thread"), strict=True):
            sides[f"image pipeline, {label} engine"] = partial(_images, sources, uploads, engine)
        for engine, label in zip(ENGINES, ("async", "thread"), strict=True):
            name = f"download → upload stages, {label} engine"
            sides[name] = partial(_transfers, sources, uploads, engine)
        name = "image pipeline, async engine, one server for both"
        sides[name] = partial(_images, sources, origin, "async")
        name = "anchor: 16 + 16 tasks in plain loops, no engine"
        sides[name] = partial(_loops, sources, uploads, body)
        return lone, anyio.run(_best, sides, _check, IO_REPEATS)


@contextmanager
def _peak_threads() -> Iterator[list[int]]:
    """Count this process's threads every 5 ms on a thread of its own (not counted): ``[0]``."""
    peak, done = [threading.active_count()], threading.Event()

    def sample() -> None:
        while not done.wait(SAMPLE_S):
            peak[0] = max(peak[0], threading.active_count() - 1)

    watcher = threading.Thread(target=sample, daemon=True)
    watcher.start()
    try:
        yield peak
    finally:
        done.set()
        watcher.join()


def rss_one(engine: Engine, base: str) -> Memory:
    """1,000 downloads at once from ``base`` through the image pipeline, in this process."""
    baseline = status_mib("VmRSS")
    settings = PipelineSettings(allow_private=True, download_workers=CROWD)
    sources = _tiny_sources(base, CROWD)

    async def run(destination: Destination) -> tuple[float, int, str]:
        # Timed in here: on Python 3.11 anyio.run (asyncio.Runner) then builds the repr of
        # whatever the coroutine returns, twice, so it returns three small values.
        started = time.perf_counter()
        manifest = await run_images(sources, destination, JOB, settings=settings, engine=engine)
        return time.perf_counter() - started, manifest.peak_in_flight, _check(manifest)

    with tempfile.TemporaryDirectory() as tmp, _peak_threads() as peak:
        seconds, in_flight, check = anyio.run(run, Destination(Path(tmp)))
    return Memory(engine, seconds, in_flight, peak[0], baseline, status_mib("VmHWM"), check)


def _crowd() -> list[Memory]:
    rows = []
    with _server(CROWD_DELAY_S, CROWD, CROWD_WAITS) as base:
        for engine in ENGINES:
            argv = [sys.executable, "-m", "bench.pipeline", "--rss", engine, base]
            out = subprocess.run(argv, check=True, capture_output=True, text=True).stdout
            rows.append(Memory(**json.loads(out)))
    return rows


def _photos() -> list[bytes]:
    from tests.pipeline._server import jpeg

    with ThreadPoolExecutor(os.cpu_count()) as pool:  # numpy and the encoder free the GIL
        return list(pool.map(partial(jpeg, *PHOTO_SIZE), range(PHOTOS)))


def _resized_bytes(image: bytes) -> bytes:
    """The resize stage's call, as the pipeline makes it for ``JOB``."""
    return resize(image, JOB.box, mode=JOB.mode, format=JOB.format, quality=JOB.quality).data


def _serial(photos: list[bytes]) -> list[bytes]:
    """The resize stage's call on each photo in turn, in memory: what every run must make."""
    return [_resized_bytes(photo) for photo in photos]


def _serial_files(paths: list[Path], out: Path) -> None:
    """The anchor: a plain serial Pillow loop, file to file, as a user would write it."""
    for path in paths:
        (out / f"{path.stem}.webp").write_bytes(_resized_bytes(path.read_bytes()))


async def _resized(paths: list[str], out: Path, runner: str) -> Manifest:
    settings = PipelineSettings(resize_runner=runner)  # resize_workers: the default
    return await run_images(paths, Destination(out), JOB, settings=settings)


def _resized_photo(photos: list[bytes], index: str) -> bytes:
    return _resized_bytes(photos[int(index)])


async def _stage_alone(photos: list[bytes]) -> Manifest:
    """The resize stage by itself on photos in memory: the engine's hops, but no edges."""
    stage = Stage("resize", partial(_resized_photo, photos), RESIZE_WORKERS, "thread")
    return await run_pipeline([stage], map(str, range(len(photos))), buffer=IO_SETTINGS.buffer)


def _made(result: object) -> bytes:
    """What a run made of one photo: bytes, or those of the file a :class:`Delivered` names."""
    if isinstance(result, Delivered):
        return Path(result.dest).read_bytes()
    assert isinstance(result, bytes)
    return result


def _same_as(expected: list[bytes]) -> Callable[[Manifest | None], str]:
    """A check that every image a run made is the serial loop's, byte for byte."""

    def check(manifest: Manifest | None) -> str:
        if manifest is None:
            return "-"
        if manifest.failed:
            return _check(manifest)
        made = [_made(outcome.result) for outcome in manifest.outcomes]
        return f"{len(made)} ok, as the loop's" if made == expected else "DIFFERENT bytes"

    return check


def _cpu(photos: list[bytes]) -> list[Row]:
    expected = _serial(photos)  # untimed: also loads Pillow's codecs
    with tempfile.TemporaryDirectory() as tmp:
        paths = [Path(tmp, f"photo-{n}.jpg") for n in range(PHOTOS)]
        for path, photo in zip(paths, photos, strict=True):
            path.write_bytes(photo)
        sources, out, loop_out = [str(path) for path in paths], Path(tmp, "out"), Path(tmp, "loop")
        out.mkdir()
        loop_out.mkdir()

        async def serial() -> None:
            await to_thread.run_sync(_serial_files, paths, loop_out)

        sides: dict[str, Side] = {}
        for runner in CPU_RUNNERS:
            name = f"image pipeline, {RESIZE_WORKERS} resize workers, {runner} runner"
            sides[name] = partial(_resized, sources, out, runner)
        name = f"resize stage alone, {RESIZE_WORKERS} workers, thread runner, photos in memory"
        sides[name] = partial(_stage_alone, photos)
        sides["anchor: serial Pillow loop, file to file"] = serial

        async def run() -> list[Row]:
            # Untimed: starts the process workers, which anyio keeps for the rest of this run.
            await _resized(sources[: 2 * RESIZE_WORKERS], out, "process")
            return await _best(sides, _same_as(expected), CPU_REPEATS)

        return anyio.run(run)


def _print_io(lone_s: float, rows: list[Row]) -> None:
    delay = f"{IO_DELAY_S * 1000:.0f} ms"
    print(
        f"\n**1. I/O** — {ITEMS:_} tiny JPEGs ({TINY}x{TINY}) downloaded, resized into "
        f"{JOB.box} {JOB.format} and uploaded, the server holding every download and every "
        f"upload {delay}; {IO_WORKERS} download and {IO_WORKERS} upload workers, so the bound "
        f"is {IO_WORKERS} / {delay} = {BOUND:.0f} items/s. A download made alone takes "
        f"{lone_s * 1000:.2f} ms (median of {LONE}), which would make it "
        f"{IO_WORKERS / lone_s:.0f} items/s. Sources and uploads on two servers unless the "
        f"row says otherwise; best of {IO_REPEATS}:\n"
    )
    print("| run | seconds | items/s | of the bound | vs anchor | CPU, this process | check |")
    print("|---|---:|---:|---:|---:|---:|---|")
    anchor = rows[-1].seconds
    for row in rows:
        rate = ITEMS / row.seconds
        print(
            f"| {row.name} | {row.seconds:.3f} | {rate:.0f} | {rate / BOUND:.1%} | "
            f"{anchor / row.seconds:.2f}x | {row.cpu_s / row.seconds:.0%} | {row.check} |"
        )


def _print_memory(rows: list[Memory]) -> None:
    print(
        f"\n**2. Memory** — {CROWD:_} downloads at once, the server holding each "
        f"{CROWD_DELAY_S * 1000:.0f} ms; {CROWD:_} download workers (tasks on the async "
        f"engine, threads on the thread engine), uploads to a local directory; each engine in "
        f"a fresh interpreter; threads counted every {SAMPLE_S * 1000:.0f} ms:\n"
    )
    print(
        "| engine | seconds | peak in flight | peak threads | RSS after imports (MiB) "
        "| peak RSS (MiB) | check |"
    )
    print("|---|---:|---:|---:|---:|---:|---|")
    for row in rows:
        print(
            f"| {row.engine} | {row.seconds:.2f} | {row.peak_in_flight} | {row.peak_threads} | "
            f"{row.baseline_mib:.1f} | {row.peak_mib:.1f} | {row.check} |"
        )


def _print_cpu(rows: list[Row], photos: list[bytes]) -> None:
    kib = sum(map(len, photos)) / len(photos) / 1024
    width, height = PHOTO_SIZE
    print(
        f"\n**3. CPU** — {PHOTOS} photo-like {width}x{height} JPEGs (about {kib:.0f} KiB each) "
        f"resized into {JOB.box} {JOB.format} ({JOB.mode}); the pipeline (async engine) reads "
        f"them from local files and writes to a local directory; best of {CPU_REPEATS}:\n"
    )
    print("| run | seconds | images/s | vs serial loop | CPU, this process | check |")
    print("|---|---:|---:|---:|---:|---|")
    anchor = rows[-1].seconds
    for row in rows:
        print(
            f"| {row.name} | {row.seconds:.3f} | {PHOTOS / row.seconds:.1f} | "
            f"{anchor / row.seconds:.2f}x | {row.cpu_s / row.seconds:.0%} | {row.check} |"
        )


def main() -> None:
    """Run the three measurements and print their tables (Markdown, for README)."""
    # Imported here: they bring numpy, which the --rss interpreter must not carry.
    from bench._machine import machine
    from tests.pipeline._server import jpeg

    libraries = " · ".join(f"{name} {version(name)}" for name in ("anyio", "aiohttp", "Pillow"))
    print(f"Measured {machine()} · {libraries}.")
    lone_s, io = _io(jpeg(TINY, TINY))
    _print_io(lone_s, io)
    _print_memory(_crowd())
    photos = _photos()
    cpu = _cpu(photos)
    _print_cpu(cpu, photos)
    serial = cpu[-1].seconds
    ratios = ", ".join(f"{row.name}: {serial / row.seconds:.2f}x" for row in cpu[:2])
    print(
        f"\nTargets: the image pipeline on the async engine >= 90% of the I/O bound "
        f"({ITEMS / io[0].seconds / BOUND:.1%}); resizing >= 1.7x the serial loop ({ratios})."
    )


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--serve":
        waits = next(waits for waits in WAITS if waits == sys.argv[4])
        serve_until_closed(float(sys.argv[2]), int(sys.argv[3]), waits)
    elif len(sys.argv) == 4 and sys.argv[1] == "--rss":
        engine = next(engine for engine in ENGINES if engine == sys.argv[2])
        print(json.dumps(asdict(rss_one(engine, sys.argv[3]))))
    else:
        main()
