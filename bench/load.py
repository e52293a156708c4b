"""A sustained mixed load on a real ``fanout serve`` for a fixed time, and whether its memory,
descriptors, threads and children stay flat: ``python -m bench.load [--seconds N]
[--connections C]``.

Loopback only, and it stops by itself. The daemon (``bench._daemon``) runs in a temporary
directory, configured by ``FANOUT_*`` variables alone (``DAEMON_ENV``): a queue that never
refuses (``max_queued``), a short drain, PBKDF2 at ``ITERATIONS`` (the default 600_000 would
make key derivation all the load is), pipeline jobs from a loopback image server
(``tests.pipeline._server``) into a directory. ``C`` clients, a ``service.client.Client`` (an
aiohttp session) each, run one flow at a time until the time is up, each flow drawn at random
(``WEIGHTS``):

- life, a pattern: a glider, the R-pentomino or the acorn, 1-300 generations on the plane;
- life, a soup: a random 64², 128² or 256² torus, 20-100 generations;
- crypto, JSON: 1 B - 64 KiB encrypted in a JSON submission (base64), the ciphertext decrypted
  the same way, and the plaintext compared with what went in;
- crypto, uploads: 64 KiB - 1 MiB streamed to ``POST /v1/jobs/encrypt``, the ciphertext
  streamed back through ``/v1/jobs/decrypt`` (both answer when the job has ended), compared;
- pipeline: two images downloaded from the image server, resized, written to a directory;
- reads: job lists (by status, by kind), a recent job's status, ``/metrics``.

A submitted job is waited for on its event stream (SSE) and its artifact fetched. An error is
an answer the flow did not expect (an HTTP error status, a connection that failed), a job
that should have succeeded and did not, or a round trip that gave back other bytes.

The daemon's RSS, open fds, threads and children are read from ``/proc`` every ``SAMPLE_S``,
shown per tenth of the run (first / min / max / last), and judged flat when the last third
exceeds the first by no more than ``BOUNDS`` (RSS by its high-water mark, fds and threads by
their median: see ``bench._usage.compare``), and once the load has stopped the daemon has no
child left and at most ``REST_FDS`` open fds more than before the load, besides those of its
worker processes (``POOL_FDS``: they start with the first small Life run, and stay).
Last, with a few long jobs running, SIGTERM: the daemon must drain for ``[jobs]
shutdown_grace_s``, exit 0 and leave no process behind. The exit status is 1 when any of it
fails: an error, growth, or the stop.
"""

from __future__ import annotations

import argparse
import base64
import random
import statistics
import sys
import tempfile
import time
from collections import Counter, deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any, Final, Literal, NoReturn, TypeVar, final

import anyio

from bench._daemon import LogNotes, Stop, stop
from bench._usage import Bounds, Check, Sample, at_rest, compare, look, spread
from service.api.problems import status_named
from service.client import Client
from service.config import Settings
from service.errors import FanoutError
from service.jobs.model import Job, JobError, JobState
from service.system.processes import Usage
from tests.pipeline._server import Served
from tests.pipeline._server import serve as image_server
from tests.reliability._daemon import Spawned, spawned

__all__ = ["main"]

T = TypeVar("T")

SECONDS: Final = 120.0
CONNECTIONS: Final = 16
SAMPLE_S: Final = 1.0
WINDOWS: Final = 10
MAX_RUNNING: Final = 4  # the daemon's default
ITERATIONS: Final = 10_000
GRACE_S: Final = 2.0
WAIT_S: Final = 120.0  # a job not ended by then is an error (TimedOut), and its flow ends
REST_S: Final = 10.0  # for the last children to go once the load has stopped
STOP_S: Final = GRACE_S + 20.0
PASSWORD: Final = "bench-load-password"
WEIGHTS: Final = {
    "life, a pattern": 30,
    "life, a soup": 20,
    "crypto, JSON": 15,
    "crypto, uploads": 15,
    "pipeline": 5,
    "reads": 15,
}
IMAGES: Final = 16  # distinct image names: the image server makes each once, then keeps it
BOUNDS: Final = Bounds(rss_mib=16.0, rss_share=0.10, fds=8, threads=4)
REST_FDS: Final = 8  # more open fds at rest after the load than before it
# The worker processes' pipes (a task pipe and an exit-status pipe each), and the pipes to the
# forkserver and the resource tracker that start with the first of them.
POOL_FDS: Final = 2 * Settings().jobs.worker_processes + 3
PATTERNS: Final = {
    "glider": "bo$2bo$3o!",
    "R-pentomino": "b2o$2o$bo!",
    "acorn": "bo5b$3bo3b$2o2b3o!",
}
# Running when SIGTERM comes: Life that would take minutes (interrupted after the grace), and
# encryptions at the default PBKDF2 cost (a quarter of a second: they end within it).
LONG_LIFE: Final = {"random": "256x256:0.3:1", "generations": 1_000_000, "topology": "torus"}
SLOW_ENCRYPT: Final = {"data": base64.b64encode(bytes(65_536)).decode(), "iterations": 600_000}
DAEMON_ENV: Final = {
    "FANOUT_JOBS__MAX_RUNNING": str(MAX_RUNNING),
    "FANOUT_JOBS__MAX_QUEUED": "100000",
    "FANOUT_JOBS__SHUTDOWN_GRACE_S": str(GRACE_S),
    "FANOUT_CRYPTO__PBKDF2_ITERATIONS": str(ITERATIONS),
    "FANOUT_PIPELINE__ALLOW_PRIVATE": "true",  # the image server is on loopback
    "FANOUT_PIPELINE__SIZE": "64x64",
}

_WAIT: Final = "GET /v1/jobs/{id}/events (until the job ends)"
_RESULT: Final = "GET /v1/jobs/{id}/result"


class FlowFailed(Exception):
    """Raised when a flow met an error (already counted) and cannot go on."""


@final
@dataclass(slots=True)
class Tally:
    """Every answer of the run: latencies by request, end-to-end times by job, errors (each
    kind counted, with the message of its first)."""

    requests: dict[str, list[float]] = field(default_factory=dict)
    jobs: dict[str, list[float]] = field(default_factory=dict)
    errors: Counter[str] = field(default_factory=Counter)
    first: dict[str, str] = field(default_factory=dict)
    recent: deque[str] = field(default_factory=lambda: deque(maxlen=100))

    @property
    def completed(self) -> int:
        return sum(map(len, self.jobs.values()))

    async def call(self, name: str, pending: Awaitable[T]) -> T:
        """``pending``'s value, timed as request ``name``; an error is counted, then raised as
        :class:`FlowFailed`."""
        started = time.perf_counter()
        try:
            found = await pending
        except FanoutError as exc:
            self.fail(f"{name}: {_answer(exc)}", str(exc))
        self.requests.setdefault(name, []).append(time.perf_counter() - started)
        return found

    def expect(self, ok: bool, what: str, detail: str = "") -> None:
        """Unless ``ok``: :meth:`fail`."""
        if not ok:
            self.fail(what, detail)

    def fail(self, what: str, detail: str) -> NoReturn:
        """Count ``what`` as an error (``detail`` kept from its first time), end the flow."""
        self.errors[what] += 1
        self.first.setdefault(what, detail[:200])
        raise FlowFailed(what)


def _answer(exc: FanoutError) -> str:
    """The class the client raised, and the status it stands for."""
    name = type(exc).__name__
    # The client raises the base class for a 5xx it does not know and for no answer at all.
    status = "5xx or no answer" if type(exc) is FanoutError else status_named(name)
    return f"{name} (HTTP {status})"


Flow = Callable[[Client, random.Random, Tally], Awaitable[None]]


async def _job(client: Client, tally: Tally, name: str, kind: str, params: Any) -> bytes:
    """Submit, wait on the event stream, fetch the artifact: the artifact."""
    started = time.perf_counter()
    job = await tally.call(f"POST /v1/jobs ({kind})", client.submit(kind, params))
    return await _ended(client, tally, name, job.id, started)


async def _ended(client: Client, tally: Tally, name: str, job_id: str, started: float) -> bytes:
    job = await tally.call(_WAIT, client.wait(job_id, timeout_s=WAIT_S))
    return await _artifact(client, tally, name, job, started)


async def _artifact(client: Client, tally: Tally, name: str, job: Job, started: float) -> bytes:
    tally.recent.append(job.id)
    error = job.error or JobError("no error", "")
    what = f"{name} job {job.status.value}: {error.type}"
    tally.expect(job.status is JobState.SUCCEEDED, what, error.message)
    data = await tally.call(_RESULT, client.result(job.id))
    tally.jobs.setdefault(name, []).append(time.perf_counter() - started)
    return data


async def life_pattern(client: Client, rng: random.Random, tally: Tally) -> None:
    name, rle = rng.choice(list(PATTERNS.items()))
    params = {"pattern": rle, "generations": rng.randint(1, 300)}
    art = await _job(client, tally, "life, a pattern", "life", params)
    tally.expect(b"rule = B3/S23" in art, f"life {name}: not an RLE artifact", repr(art[:60]))


async def life_soup(client: Client, rng: random.Random, tally: Tally) -> None:
    side = rng.choice((64, 128, 256))
    soup = f"{side}x{side}:0.35:{rng.randrange(1 << 30)}"
    params = {"random": soup, "generations": rng.randint(20, 100), "topology": "torus"}
    art = await _job(client, tally, "life, a soup", "life", params)
    tally.expect(b"rule = B3/S23" in art, "life soup: not an RLE artifact", repr(art[:60]))


async def crypto_json(client: Client, rng: random.Random, tally: Tally) -> None:
    plain = rng.randbytes(rng.randint(1, 65_536))
    params = {"data": base64.b64encode(plain).decode(), "password": PASSWORD}
    cipher = await _job(client, tally, "encrypt, JSON", "encrypt", params)
    params = {"data": base64.b64encode(cipher).decode(), "password": PASSWORD}
    back = await _job(client, tally, "decrypt, JSON", "decrypt", params)
    tally.expect(back == plain, "decrypt, JSON: the plaintext came back different")


async def crypto_upload(client: Client, rng: random.Random, tally: Tally) -> None:
    plain = rng.randbytes(rng.randint(65_536, 1 << 20))
    cipher = await _upload(client, tally, "encrypt", plain)
    back = await _upload(client, tally, "decrypt", cipher)
    tally.expect(back == plain, "decrypt, upload: the plaintext came back different")


async def _upload(
    client: Client, tally: Tally, kind: Literal["encrypt", "decrypt"], data: bytes
) -> bytes:
    started = time.perf_counter()
    name = f"POST /v1/jobs/{kind} (a raw body; answers when the job ends)"
    job = await tally.call(name, client.upload(kind, _chunks(data), password=PASSWORD))
    return await _artifact(client, tally, f"{kind}, upload", job, started)


async def _chunks(data: bytes, size: int = 256 * 1024) -> AsyncIterator[bytes]:
    # Streamed: aiohttp warns about a bytes body past 1 MiB, and a client would stream a file.
    for start in range(0, len(data), size):
        yield data[start : start + size]


def pipeline(images: Served) -> Flow:
    async def flow(client: Client, rng: random.Random, tally: Tally) -> None:
        names = rng.sample(range(IMAGES), 2)
        params = {
            "sources": [images.url(f"/img/photo-{n}.jpg") for n in names],
            "destination": "delivered",
        }
        started = time.perf_counter()
        job = await tally.call("POST /v1/jobs (pipeline)", client.submit("pipeline", params))
        job = await tally.call(_WAIT, client.wait(job.id, timeout_s=WAIT_S))
        failed = (job.result or {}).get("failed")
        tally.expect(failed in (0, None), "pipeline: images failed", f"{failed} of 2")
        await _artifact(client, tally, "pipeline", job, started)

    return flow


async def reads(client: Client, rng: random.Random, tally: Tally) -> None:
    await tally.call("GET /v1/jobs?status=…", client.list(status="succeeded", limit=20))
    kind = rng.choice(("life", "encrypt", "decrypt", "pipeline"))
    await tally.call("GET /v1/jobs?kind=…", client.list(kind=kind, limit=50))
    if tally.recent:
        await tally.call("GET /v1/jobs/{id}", client.get(rng.choice(tally.recent)))
    await tally.call("GET /metrics", client.metrics())


def flows(images: Served) -> dict[str, Flow]:
    """The flows, by the names ``WEIGHTS`` gives them."""
    return {
        "life, a pattern": life_pattern,
        "life, a soup": life_soup,
        "crypto, JSON": crypto_json,
        "crypto, uploads": crypto_upload,
        "pipeline": pipeline(images),
        "reads": reads,
    }


@final
@dataclass(frozen=True, slots=True)
class Report:
    """What one run measured."""

    seconds: float
    connections: int
    tally: Tally
    samples: list[Sample]
    idle: Usage
    rest: Sample
    stop: Stop
    log: LogNotes


async def _load(
    daemon: Spawned, notes: LogNotes, mix: Mapping[str, Flow], *, seconds: float, connections: int
) -> tuple[Tally, list[Sample]]:
    """The clients for ``seconds``, and the daemon's usage every ``SAMPLE_S`` meanwhile."""
    tally, samples = Tally(), list[Sample]()
    chosen, weights = [mix[name] for name in WEIGHTS], list(WEIGHTS.values())
    started = time.perf_counter()
    until = started + seconds

    async def client_loop(seed: int) -> None:
        rng = random.Random(seed)
        async with Client(daemon.url) as client:
            while time.perf_counter() < until:
                with suppress(FlowFailed):  # counted already; the client goes on
                    await rng.choices(chosen, weights)[0](client, rng, tally)

    async def sampler() -> None:
        while True:
            at = time.perf_counter() - started
            samples.append(Sample(at, tally.completed, await look(daemon.pid)))
            notes.take(daemon)
            _progress(samples[-1], seconds)
            await anyio.sleep(SAMPLE_S)

    async with anyio.create_task_group() as group:
        group.start_soon(sampler)
        with anyio.fail_after(seconds + WAIT_S * 3):  # a stuck flow fails the run, never hangs it
            async with anyio.create_task_group() as clients:
                for index in range(connections):
                    clients.start_soon(client_loop, index)
        group.cancel_scope.cancel()
    return tally, samples


def _progress(sample: Sample, seconds: float) -> None:
    """A line on stderr at each tenth of the run (stdout is the report's)."""
    step = seconds / WINDOWS
    if int(sample.at_s / step) != int((sample.at_s - SAMPLE_S) / step) or sample.at_s < SAMPLE_S:
        use = sample.usage
        print(
            f"load: {sample.at_s:5.0f} s, {sample.jobs:_} jobs, RSS {use.rss_mib:.1f} MiB, "
            f"{use.fds} fds, {use.threads} threads, {use.children} children",
            file=sys.stderr,
        )


async def _stop_draining(daemon: Spawned) -> Stop:
    """SIGTERM with ``LONG_LIFE`` and ``SLOW_ENCRYPT`` jobs running."""
    async with Client(daemon.url) as client:
        jobs = [await client.submit("life", LONG_LIFE) for _ in range(2)]
        for _ in range(2):
            jobs.append(await client.submit("encrypt", SLOW_ENCRYPT, password=PASSWORD))
        with anyio.fail_after(WAIT_S):
            while (await client.get(jobs[0].id)).status is JobState.QUEUED:  # noqa: ASYNC110  # polling: there is no event to wait on
                await anyio.sleep(0.05)
    return await stop(daemon, [job.id for job in jobs], within_s=STOP_S)


async def _run(seconds: float, connections: int) -> Report:
    with tempfile.TemporaryDirectory(prefix="fanout-load-") as scratch:
        directory = Path(scratch)
        delivered = directory / "delivered"
        delivered.mkdir()
        async with image_server() as images:
            variables = {
                **DAEMON_ENV,
                "FANOUT_PIPELINE__ALLOWED_SOURCES": f"{images.base}/img/",
                "FANOUT_PIPELINE__DESTINATIONS__DELIVERED": str(delivered),
            }
            async with spawned(directory, variables, echo=False) as daemon:
                notes = LogNotes()
                mix = flows(images)
                idle = await look(daemon.pid)
                tally, samples = await _load(
                    daemon, notes, mix, seconds=seconds, connections=connections
                )
                rest = Sample(seconds, tally.completed, await at_rest(daemon.pid, within_s=REST_S))
                stopped = await _stop_draining(daemon)
                notes.take(daemon)
    return Report(seconds, connections, tally, samples, idle, rest, stopped, notes)


def _ms(latencies: Sequence[float], cut: int) -> str:
    if len(latencies) < 2:
        return "-"
    return f"{statistics.quantiles(latencies, n=100, method='inclusive')[cut - 1] * 1000:.1f}"


def _print_totals(report: Report) -> None:
    tally, seconds = report.tally, report.seconds
    requests = sum(map(len, tally.requests.values()))
    errors = sum(tally.errors.values())
    print(
        f"\n{requests:_} requests answered as expected ({requests / seconds:.0f}/s), "
        f"{tally.completed:_} jobs completed ({tally.completed / seconds:.1f}/s), "
        f"{errors} errors, in {seconds:g} s with {report.connections} clients.\n"
    )
    print("| request | count | per s | p50 (ms) | p99 (ms) | max (ms) |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, times in sorted(tally.requests.items()):
        print(
            f"| {name} | {len(times):_} | {len(times) / seconds:.1f} | {_ms(times, 50)} | "
            f"{_ms(times, 99)} | {max(times) * 1000:.1f} |"
        )
    print("\n| job (submitted → ended → artifact fetched) | completed | p50 (ms) | p99 (ms) |")
    print("|---|---:|---:|---:|")
    for name, times in sorted(report.tally.jobs.items()):
        print(f"| {name} | {len(times):_} | {_ms(times, 50)} | {_ms(times, 99)} |")
    print(
        "\nErrors: none." if not errors else "\n| error | count | the first said |\n|---|---:|---|"
    )
    for what, count in tally.errors.most_common():
        print(f"| {what} | {count} | {tally.first[what]} |")


def _print_usage(samples: list[Sample], seconds: float) -> None:
    print(
        f"\n**The daemon's usage**, read from /proc every {SAMPLE_S:g} s ({len(samples)} "
        "samples), per tenth of the run: first / min / max / last.\n"
    )
    print("| seconds | jobs by then | RSS (MiB) | open fds | threads | children |")
    print("|---|---:|---|---|---|---|")
    step = seconds / WINDOWS
    for index in range(WINDOWS):
        low, high = index * step, (index + 1) * step
        span = [
            s for s in samples if low <= s.at_s < high or (index == WINDOWS - 1 and s.at_s >= high)
        ]
        if not span:
            continue
        uses = [s.usage for s in span]
        print(
            f"| {low:.0f}-{high:.0f} | {span[-1].jobs:_} | "
            f"{spread([u.rss_mib for u in uses], 1)} | {spread([u.fds for u in uses])} | "
            f"{spread([u.threads for u in uses])} | {spread([u.children for u in uses])} |"
        )


def _verdict(report: Report) -> list[Check]:
    third = report.seconds / 3
    early = [s.usage for s in report.samples if s.at_s < third]
    late = [s.usage for s in report.samples if s.at_s >= 2 * third]
    checks = compare(early or [report.samples[0].usage], late, report.rest.usage, BOUNDS, busy=True)
    idle, rest = report.idle.fds, report.rest.usage.fds
    return [
        *checks,
        Check("open fds at rest, before the load → after", idle, rest, idle + REST_FDS + POOL_FDS),
    ]


def _print_verdict(report: Report, checks: list[Check]) -> bool:
    idle, rest = report.idle, report.rest.usage
    print(
        f"\nAt rest before the load: RSS {idle.rss_mib:.1f} MiB, {idle.fds} open fds, "
        f"{idle.threads} threads, {idle.children} children; after it: RSS {rest.rss_mib:.1f} "
        f"MiB, {rest.fds} open fds, {rest.threads} threads, {rest.children} children, "
        f"{rest.workers} worker processes.\n"
        "\nFlat when the last third exceeds the first third by at most: "
        f"{BOUNDS.describe()}; and at rest the daemon has at most {REST_FDS} open fds more "
        f"than before the load, besides the {POOL_FDS} of its worker processes. RSS is "
        "compared by its high-water mark; open fds and threads by their median, as their peaks "
        "are whatever happens to be in flight at the worst second (a crypto job holds about 9 "
        "fds, openssl's pipes).\n"
    )
    for check in checks:
        print(f"- {check.describe()}")
    flat = all(check.ok for check in checks)
    print(f"\nVerdict: {'flat' if flat else 'NOT FLAT'}.")
    print(f"\nStop: {report.stop.describe()}.")
    print(f"\nThe daemon's log: {report.log.describe()}.")
    return flat and report.stop.ok and not report.tally.errors


def _print_report(report: Report) -> bool:
    """The tables and the verdicts (Markdown, for README); whether everything held."""
    from bench._machine import machine  # numpy: not before the daemon is up

    libraries = " · ".join(f"{name} {version(name)}" for name in ("anyio", "aiohttp"))
    print(f"Measured {machine()} · {libraries}.")
    weights = ", ".join(f"{name} {weight}" for name, weight in WEIGHTS.items())
    print(
        f"\n**Sustained mixed load** — {report.connections} clients (an aiohttp session each) "
        f"for {report.seconds:g} s on loopback, one flow at a time each, drawn by weight "
        f"({weights}); every job waited for on its event stream and its artifact fetched; "
        f"the daemon at `[jobs] max_running` {MAX_RUNNING}, PBKDF2 {ITERATIONS:_} iterations."
    )
    _print_totals(report)
    _print_usage(report.samples, report.seconds)
    return _print_verdict(report, _verdict(report))


def main() -> None:
    """Run the load (``--seconds``, ``--connections``), print the report; exit 1 on a failure."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.load", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--seconds", type=float, default=SECONDS, help="how long the load runs")
    parser.add_argument("--connections", type=int, default=CONNECTIONS, help="clients at once")
    args = parser.parse_args()
    if args.seconds <= 0 or not 1 <= args.connections <= 1000:
        parser.error("--seconds must be above 0 and --connections within 1..1000")
    try:
        report = anyio.run(_run, args.seconds, args.connections, backend="asyncio")
    except KeyboardInterrupt:
        print("bench.load: interrupted; the daemon was killed", file=sys.stderr)
        raise SystemExit(130) from None
    sys.exit(0 if _print_report(report) else 1)


if __name__ == "__main__":
    main()
