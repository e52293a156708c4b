"""SIGTERM to a real ``fanout serve`` in the middle of 200 mixed jobs (see ``_load``), with
40 more submissions racing the signal: the daemon drains, exits 0, leaves no process behind,
and every job it took is in the store, ended.

What a client may rely on during the stop, and what this test holds the daemon to:

- a request sent before the signal gets an answer (the job, or 503 with ``Retry-After`` when
  the drain came first), never a dropped connection: the daemon goes on listening until the
  drain is over, and lets answered handlers finish before it closes;
- a submission sent during the drain, JSON or upload, gets 503 with ``Retry-After`` and the
  ``Draining`` error;
- once a connection fails the daemon has stopped listening: it never answers again, and every
  later connection is refused (only a request caught in the act of closing may be cut);
- every job it answered 202, 201 or 200 for is in the store afterwards, ``succeeded``,
  ``failed``, ``cancelled`` or ``interrupted``: none ``queued``, none ``running``, none missing;
- nothing it started outlives it: no pool worker, no forkserver, no openssl child (those run
  in sessions of their own: the test watches the daemon's descendants while it runs);
- no temporary file is left in the artifacts or the pipeline's destination directory.

``anyio.fail_after`` and ``eventually`` guard against hangs; no test asserts a duration.
"""

from __future__ import annotations

import signal
from collections import Counter
from pathlib import Path
from typing import Any, Final

import aiohttp
import anyio
import pytest

from service.client import Client
from service.jobs.model import TERMINAL, Job, JobState
from service.jobs.store.sqlite import SqliteJobStore
from tests.api._http import Reply, eventually
from tests.pipeline._server import Served
from tests.pipeline._server import serve as image_server
from tests.reliability._daemon import Spawned, spawned
from tests.reliability._load import (
    OCTETS,
    PLAINTEXT,
    RUNNERS,
    Descendants,
    Load,
    daemon_variables,
    encrypted,
    mixed_load,
    small_life,
)

pytestmark = pytest.mark.anyio

GRACE_S: Final = 2.0
HANG_S: Final = 60.0
PROBES: Final[tuple[tuple[str, dict[str, Any]], ...]] = (
    ("/v1/jobs", {"json": {"kind": "life", "params": {"random": "16x16", "generations": 1}}}),
    ("/v1/jobs/encrypt", {"data": b"probe", "headers": OCTETS}),
)
"""A submission each way in: JSON, and an upload."""
PROBE_EVERY_S: Final = 0.05
LATE: Final = 40
"""Submissions sent at the moment of the signal, on top of the load."""
FAILED_PROBES: Final = 3
"""Probes that must fail in a row once one has: the daemon does not listen again."""


@pytest.mark.parametrize("runner", RUNNERS)  # [crypto] runner
@pytest.mark.slow
async def test_sigterm_under_load_drains_exits_0_and_loses_no_job(
    tmp_path: Path, runner: str
) -> None:
    delivered = tmp_path / "delivered"
    delivered.mkdir()
    async with image_server() as images:
        variables = daemon_variables(images, delivered, grace_s=GRACE_S, runner=runner)
        async with spawned(tmp_path, variables) as daemon:
            watch = Descendants(daemon.pid)
            load, probes, code = await _sigterm_under_load(daemon, watch, images)
            assert code == 0, daemon.log
            left = _named(daemon.survivors())
            assert left == [], "\n".join(left)  # process-pool workers, the forkserver
            assert watch.alive() == []  # openssl children, in sessions of their own
            assert len(watch.seen) > 0  # the watch did see the daemon's children
    assert "Traceback" not in daemon.log, daemon.log

    _check_answers(load)
    accepted = set(load.accepted()) | _check_probes(probes)
    jobs = await _stored(daemon.store)
    states = _check_stored(load, accepted, jobs)
    _check_files(daemon.artifacts, delivered, jobs)
    answers = Counter(sent.reply.status for sent in load.sent if sent.reply is not None)
    refused = Counter(probe.status if isinstance(probe, Reply) else "failed" for probe in probes)
    print(f"load: {dict(answers)}; probes: {dict(refused)}; accepted {len(accepted)}: {states}")


async def _sigterm_under_load(
    daemon: Spawned, watch: Descendants, images: Served
) -> tuple[Load, list[Reply | aiohttp.ClientError], int]:
    """Start the load, SIGTERM once jobs run and wait, probe until the daemon stops listening;
    the load, the probes' outcomes, and the exit status."""
    codes: list[int] = []

    async def stop() -> None:
        codes.append(await daemon.stop(signal.SIGTERM, within_s=GRACE_S + HANG_S))

    connector = aiohttp.TCPConnector(limit=0)
    async with (
        Client(daemon.url) as client,
        aiohttp.ClientSession(connector=connector) as session,
        anyio.create_task_group() as watching,
    ):
        watching.start_soon(watch.watch)
        load = Load(mixed_load(images, await encrypted(client, PLAINTEXT)))
        with anyio.fail_after(GRACE_S + 2 * HANG_S):
            async with anyio.create_task_group() as group:
                load.start(group, session, daemon.url)
                await eventually(lambda: load.in_the_middle(client), within_s=HANG_S)
                load.more(group, session, daemon.url, small_life(LATE))  # racing the signal
                load.act()
                group.start_soon(stop)
                probes = await _probe(daemon.url)
        load.release()
        watching.cancel_scope.cancel()
    return load, probes, codes[0]


async def _probe(url: str) -> list[Reply | aiohttp.ClientError]:
    """Submit a small job (JSON and upload in turn) on a new connection now and then, until a
    few in a row fail."""
    outcomes: list[Reply | aiohttp.ClientError] = []
    while len(outcomes) < FAILED_PROBES or not all(
        isinstance(outcome, aiohttp.ClientError) for outcome in outcomes[-FAILED_PROBES:]
    ):
        connector = aiohttp.TCPConnector(force_close=True)
        path, options = PROBES[len(outcomes) % len(PROBES)]
        try:
            async with (
                aiohttp.ClientSession(connector=connector) as session,
                session.post(url + path, **options) as response,
            ):
                outcomes.append(Reply(response.status, response.headers, await response.read()))
        except aiohttp.ClientError as exc:
            outcomes.append(exc)
        await anyio.sleep(PROBE_EVERY_S)
    return outcomes


def _named(pids: list[int]) -> list[str]:
    """``pids`` with their command lines, for a failure's message."""
    named = []
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text().split()[:5]
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue  # gone meanwhile
        named.append(f"{' '.join(stat)}: {argv.decode(errors='replace')}")
    return named


def _check_answers(load: Load) -> None:
    """Every request of the load was answered: a job, or 503 + Retry-After (a late submission
    the drain came before, an upload that never got a slot)."""
    assert all(sent.before for sent in load.sent)
    assert [sent.failure for sent in load.sent if sent.failure is not None] == []
    for sent in load.sent:
        assert sent.reply is not None
        if sent.reply.status == 503:
            _check_draining(sent.reply)
        elif sent.spec.route == "json":
            assert sent.reply.status == 202, sent.reply.body
        else:
            assert sent.reply.status in (200, 201), sent.reply.body
    assert sum(1 for sent in load.sent if sent.job is not None) > 0


def _check_probes(probes: list[Reply | aiohttp.ClientError]) -> set[str]:
    """Answers, then only failures: jobs until the drain began, then 503 + Retry-After; the ids
    of the jobs the probes got (before the daemon saw the signal).

    The holding jobs keep the drain (and the listener) going for the whole grace period, so
    some probes are answered 503."""
    answered = [probe for probe in probes if isinstance(probe, Reply)]
    assert probes[: len(answered)] == answered, "a probe was answered after one had failed"
    statuses = [reply.status for reply in answered]
    assert statuses.count(503) >= len(PROBES), statuses  # each way in
    first = statuses.index(503)
    assert set(statuses[:first]) <= {200, 201, 202}, statuses
    assert statuses[first:] == [503] * (len(statuses) - first), "a job after the drain began"
    for reply in answered[first:]:
        _check_draining(reply)
    # Only the probe in flight as the listener closed may be cut (it may have been waiting in
    # the kernel's backlog); every later one is refused when it connects.
    cut, *refused = probes[len(answered) :]
    assert isinstance(cut, aiohttp.ClientConnectionError), repr(cut)
    for failure in refused:
        assert isinstance(failure, aiohttp.ClientConnectorError), repr(failure)
    return {reply.job().id for reply in answered[:first]}


def _check_stored(load: Load, accepted: set[str], jobs: dict[str, Job]) -> Counter[JobState]:
    """Every job taken is stored, ended; the holding ones interrupted, an upload as its answer
    said. The count of the taken jobs by state."""
    assert sorted(accepted - set(jobs)) == []
    assert [job for job in jobs.values() if job.status not in TERMINAL] == []
    states = Counter(jobs[job_id].status for job_id in accepted)
    holders = [job_id for job_id, sent in load.accepted().items() if sent.spec.holds]
    assert {jobs[job_id].status for job_id in holders} == {JobState.INTERRUPTED}
    for job_id, sent in load.accepted().items():
        if sent.spec.route != "json":
            assert sent.job == jobs[job_id]
    assert states[JobState.SUCCEEDED] > 0
    return states


def _check_draining(reply: Reply) -> None:
    assert reply.status == 503, reply.body
    assert int(reply.headers["Retry-After"]) >= 1
    assert reply.error()["type"] == "Draining"


async def _stored(path: Path) -> dict[str, Job]:
    store = await SqliteJobStore.open(path)
    try:
        found = await store.list(status=None, kind=None, limit=10_000, after=None)
        assert await store.check() == "ok"
    finally:
        await store.aclose()
    return {job.id: job for job in found}


def _check_files(artifacts: Path, delivered: Path, jobs: dict[str, Job]) -> None:
    """Every file in the artifacts directory is a succeeded job's artifact (no ``.part`` or
    other temporary file); the destination holds no hidden (temporary) file."""
    kept = {job.artifact for job in jobs.values() if job.status is JobState.SUCCEEDED}
    assert sorted(path.name for path in artifacts.iterdir() if path.name not in kept) == []
    assert sorted(path.name for path in delivered.iterdir() if path.name.startswith(".")) == []
