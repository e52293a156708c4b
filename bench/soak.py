"""20,000 small jobs back to back on a real ``fanout serve``, and whether anything grows:
``python -m bench.soak [--jobs N]``.

Loopback only, and it stops by itself. The daemon (``bench._daemon``) runs in a temporary
directory, configured by ``FANOUT_*`` variables alone (``DAEMON_ENV``). The jobs go in batches
of ``EVERY``: ``SUBMITTERS`` clients, a ``service.client.Client`` each, take the batch's next
job number until there is none left, and for each: submit, wait on its event stream (SSE)
until it ends, fetch its artifact. Jobs are Life (``LIFE``: a glider, one generation), every
``CRYPTO_EVERY``-th a small encryption (1-4 KiB of base64 JSON, PBKDF2 at ``ITERATIONS``:
openssl children and their pipes come and go).

Between two batches, once the daemon has no child left, its RSS, open fds, threads and
children are read from ``/proc``, with the size of its store (the SQLite file and its WAL)
and the number of artifacts: every sample is taken at rest, so what it sees is what the
daemon keeps, not the jobs in flight. After a warm-up of ``WARMUP`` jobs, the later samples
may exceed the warm-up's by at most ``BOUNDS``, and the last must show no child. The exit
status is 1 when a bound is broken, a job failed, or the daemon did not stop cleanly on
SIGTERM.

The store is not a leak: a finished job and its artifact are kept for ``[jobs] retention_s``
(a day by default, and never less than a minute), so 20,000 jobs are 20,000 rows and files
for the whole run, by design. What must not grow with them is the daemon's memory.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Final, final

import anyio

from bench._daemon import LogNotes, Stop, stop
from bench._usage import Bounds, Check, Sample, at_rest, compare
from service.client import Client
from service.errors import FanoutError
from service.jobs.model import JobState
from tests.reliability._daemon import Spawned, spawned

__all__ = ["main"]

JOBS: Final = 20_000
SUBMITTERS: Final = 4
EVERY: Final = 1_000
WARMUP: Final = 1_000
CRYPTO_EVERY: Final = 10
LIFE: Final[Mapping[str, object]] = {"pattern": "bo$2bo$3o!", "generations": 1}
ITERATIONS: Final = 1_000
PASSWORD: Final = "bench-soak-password"
WAIT_S: Final = 60.0  # a job not ended by then is a failure
REST_S: Final = 10.0
STOP_S: Final = 30.0
MAX_S: Final = 3_600.0  # the whole run: a daemon that stalls fails it rather than hanging it
BOUNDS: Final = Bounds(rss_mib=16.0, rss_share=0.0, fds=8, threads=4)
DAEMON_ENV: Final = {
    "FANOUT_JOBS__MAX_QUEUED": "1000",  # room for every submitter's job, whatever else waits
    "FANOUT_JOBS__SHUTDOWN_GRACE_S": "2",
    "FANOUT_CRYPTO__PBKDF2_ITERATIONS": str(ITERATIONS),
}


@final
@dataclass(frozen=True, slots=True)
class Store:
    """The job store's size on disk, beside a sample."""

    mib: float
    artifacts: int


@final
@dataclass(slots=True)
class Run:
    """What the soak saw: samples with their store sizes, failures, and the stop."""

    jobs: int
    samples: list[tuple[Sample, Store]] = field(default_factory=list)
    failures: Counter[str] = field(default_factory=Counter)
    done: int = 0
    seconds: float = 0.0
    stopped: Stop | None = None
    log: LogNotes = field(default_factory=LogNotes)


def _store(daemon: Spawned) -> Store:
    files = [daemon.store, daemon.store.with_name(daemon.store.name + "-wal")]
    size = sum(path.stat().st_size for path in files if path.exists())
    with os.scandir(daemon.artifacts) as entries:
        return Store(size / 2**20, sum(1 for _ in entries))


async def _one(client: Client, number: int, rng: random.Random) -> str | None:
    """Job ``number``, submitted, waited for and fetched: None, or what went wrong."""
    kind, params = "life", LIFE
    if number % CRYPTO_EVERY == CRYPTO_EVERY - 1:
        data = base64.b64encode(rng.randbytes(rng.randint(1024, 4096))).decode()
        kind, params = "encrypt", {"data": data, "password": PASSWORD}
    try:
        job = await client.wait((await client.submit(kind, params)).id, timeout_s=WAIT_S)
        if job.status is not JobState.SUCCEEDED:
            error = job.error.type if job.error else "no error"
            return f"{kind} job {job.status.value}: {error}"
        if not await client.result(job.id):
            return f"{kind}: an empty artifact"
    except FanoutError as exc:
        return f"{kind}: {type(exc).__name__}: {str(exc)[:160]}"
    return None


async def _soak(daemon: Spawned, run: Run) -> None:
    """The jobs in batches of ``EVERY``, the daemon sampled at rest between two batches."""
    started = time.perf_counter()

    async def sample() -> None:
        # At rest, so that a sample sees no job's pipes, threads or children: what is left is
        # what the daemon keeps.
        use = await at_rest(daemon.pid, within_s=REST_S)
        found = Sample(time.perf_counter() - started, run.done, use)
        run.samples.append((found, await anyio.to_thread.run_sync(_store, daemon)))
        run.log.take(daemon)
        print(
            f"soak: {found.jobs:_} jobs, {found.at_s:.0f} s, RSS {use.rss_mib:.1f} MiB, "
            f"{use.fds} fds, {use.threads} threads, {use.children} children",
            file=sys.stderr,
        )

    async def submitter(client: Client, numbers: Iterator[int], rng: random.Random) -> None:
        for number in numbers:
            failure = await _one(client, number, rng)
            if failure:
                run.failures[failure] += 1
            run.done += 1

    async with AsyncExitStack() as stack:
        clients = [await stack.enter_async_context(Client(daemon.url)) for _ in range(SUBMITTERS)]
        rngs = [random.Random(seed) for seed in range(SUBMITTERS)]
        await sample()
        for first in range(0, run.jobs, EVERY):
            numbers = iter(range(first, min(first + EVERY, run.jobs)))
            async with anyio.create_task_group() as group:
                for client, rng in zip(clients, rngs, strict=True):
                    group.start_soon(submitter, client, numbers, rng)
            await sample()
    run.seconds = time.perf_counter() - started


async def _run(jobs: int) -> Run:
    run = Run(jobs)
    with tempfile.TemporaryDirectory(prefix="fanout-soak-") as scratch:
        async with spawned(Path(scratch), DAEMON_ENV, echo=False) as daemon:
            with anyio.fail_after(MAX_S):
                await _soak(daemon, run)
            run.stopped = await stop(daemon, [], within_s=STOP_S)
            run.log.take(daemon)
    return run


def _verdict(run: Run) -> list[Check]:
    """The samples after the warm-up against the warm-up's; no child in the last."""
    base = max((s for s, _ in run.samples if s.jobs <= WARMUP), key=lambda s: s.jobs)
    later = [s.usage for s, _ in run.samples if s.jobs > base.jobs]
    return compare([base.usage], later, later[-1], BOUNDS)


def _print_table(run: Run) -> None:
    print(
        "| jobs | seconds | jobs/s since the last | RSS (MiB) | open fds | threads | children "
        "| workers | store (MiB) | artifacts |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    previous: Sample | None = None
    for found, store in run.samples:
        rate = "-"
        if previous is not None and found.at_s > previous.at_s:
            rate = f"{(found.jobs - previous.jobs) / (found.at_s - previous.at_s):.0f}"
        use = found.usage
        print(
            f"| {found.jobs:_} | {found.at_s:.1f} | {rate} | {use.rss_mib:.1f} | {use.fds} | "
            f"{use.threads} | {use.children} | {use.workers} | {store.mib:.1f} | "
            f"{store.artifacts:_} |"
        )
        previous = found


def _print_report(run: Run) -> bool:
    """The table and the verdict (Markdown, for README); whether every bound held."""
    from bench._machine import machine  # numpy: not before the daemon is up

    assert run.stopped is not None
    libraries = " · ".join(f"{name} {version(name)}" for name in ("anyio", "aiohttp"))
    print(f"Measured {machine()} · {libraries}.")
    print(
        f"\n**Soak** — {run.done:_} jobs back to back from {SUBMITTERS} clients (each: submit, "
        f"wait on the event stream, fetch the artifact): Life `{json.dumps(LIFE)}`, every "
        f"{CRYPTO_EVERY}th an encryption of 1-4 KiB (PBKDF2 {ITERATIONS:_} iterations); "
        f"{run.seconds:.1f} s, {run.done / run.seconds:.0f} jobs/s; the daemon's usage from "
        f"/proc every {EVERY:_} jobs, at rest (the batch's jobs ended, no child left):\n"
    )
    _print_table(run)
    print(
        "\nThe store keeps every finished job and its artifact for `[jobs] retention_s` (a day "
        "by default): it grows with the jobs by design, and is not counted as a leak.\n"
        f"\nBounds, after a warm-up of {WARMUP:_} jobs: {BOUNDS.describe()}.\n"
    )
    checks = _verdict(run)
    for check in checks:
        print(f"- {check.describe()}")
    failures = sum(run.failures.values())
    print(f"\nFailed jobs: {failures or 'none'}.")
    for what, count in run.failures.most_common():
        print(f"- {count} x {what}")
    print(f"\nStop: {run.stopped.describe()}.")
    print(f"\nThe daemon's log: {run.log.describe()}.")
    held = all(check.ok for check in checks) and not failures and run.stopped.ok
    print(f"\nVerdict: {'no growth past the bounds' if held else 'FAILED'}.")
    return held


def main() -> None:
    """Run the soak (``--jobs``), print the report; exit 1 when a bound is broken."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.soak", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--jobs", type=int, default=JOBS, help=f"jobs in all (default {JOBS:_})")
    args = parser.parse_args()
    if args.jobs <= WARMUP:
        parser.error(f"--jobs must be above the warm-up of {WARMUP:_}")
    try:
        run = anyio.run(_run, args.jobs, backend="asyncio")
    except KeyboardInterrupt:
        print("bench.soak: interrupted; the daemon was killed", file=sys.stderr)
        raise SystemExit(130) from None
    sys.exit(0 if _print_report(run) else 1)


if __name__ == "__main__":
    main()
