"""The HTTP API benchmark: job submissions a second, the daemon beside a bare aiohttp handler.

One table from one run (``python -m bench.api``), loopback only. 50 tasks, on one aiohttp
``ClientSession`` per server (``TCPConnector(limit=50)``), each post a trivial Life job to
``POST /v1/jobs`` in a loop; after a warm-up, each server gets ``ROUNDS`` rounds of ``ROUND_S``
seconds, the two taking turns so that a slow spell of the machine hits both:

- the daemon: ``fanout serve`` (``python -m service serve``), configured by ``FANOUT_*``
  variables alone: port 0, its store in a temporary directory, ``[jobs] max_queued`` at its
  maximum so that no submission is refused for a backlog (a 429 would show as an error), and
  ``shutdown_grace_s`` 0 so that stopping it does not wait for that backlog. Every submission
  is checked, stored in SQLite and queued, and the jobs then run on the same cores (their
  bookkeeping in the daemon's process, a small Life run's work in its worker processes), with
  its logs (INFO, to a file) as ``fanout serve`` writes them;
- the anchor: an aiohttp handler alone, decoding the body into the same ``SubmitRequest`` and
  answering 202 with a small JSON body: no middleware, no store, no job, no log.

Each server runs in processes apart from the client's (the daemon in its own and its Life job
workers'), so serving is charged neither to the client's event loop nor to its GIL, and a
server's CPU is that of its whole process tree. The server whose turn it is not is paused
(SIGSTOP, then SIGCONT), with the processes under it: the daemon runs its backlog of jobs
whenever it can, and would otherwise take the cores from the anchor's turns. Both are stopped
(SIGTERM, then SIGKILL past ``STOP_S``) and waited for whatever happens, and the bare one also
leaves when its stdin closes, in case this process dies first. The daemon ends the run with a
backlog of tens of thousands of queued jobs; its drain ends them interrupted, a thousand to a
transaction (about 40,000 a second).

The client is one interpreter on one core: against the bare handler it may be the limit (its
CPU column near 100%), and then the anchor's rate is a floor and the ratio flatters the daemon.
"""

from __future__ import annotations

import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager, suppress
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Final, final

import aiohttp
import anyio
import msgspec
from aiohttp import web
from anyio import to_thread

from bench._machine import machine
from service.api.models import SubmitRequest
from service.system.processes import descendants

__all__ = ["main", "serve_bare"]

JOB: Final = {"kind": "life", "params": {"pattern": "bo$2bo$3o!", "generations": 1}}
BODY: Final = msgspec.json.encode(JOB)
CONNECTIONS: Final = 50
WARMUP_S: Final = 2.0
ROUND_S: Final = 6.0
ROUNDS: Final = 3
TARGET_SHARE: Final = 0.40  # of the bare handler's rate
TARGET_P99_MS: Final = 50.0
CLIENT_BOUND: Final = 0.90  # of a core: past it, the client rather than the server may set the pace
START_S: Final = 60.0  # the daemon imports numpy and numba before it serves
STOP_S: Final = 15.0  # then SIGKILL
REQUEST_TIMEOUT_S: Final = 10.0  # a stuck server fails requests instead of hanging the run
DAEMON_ENV: Final = {
    "FANOUT_HTTP__HOST": "127.0.0.1",
    "FANOUT_HTTP__PORT": "0",
    "FANOUT_JOBS__MAX_QUEUED": "1000000",
    "FANOUT_JOBS__SHUTDOWN_GRACE_S": "0",
}
_READY: Final = "fanout: serving on "
_HEADERS: Final = {"Content-Type": "application/json"}
_CLOCK_TICKS: Final = os.sysconf("SC_CLK_TCK")


@final
@dataclass(slots=True)
class Server:
    """A server under test, in a process of its own; ``stopped`` says how it ended."""

    name: str
    url: str
    pid: int
    log: Path | None = None
    stopped: str = "running"


@final
@dataclass(frozen=True, slots=True)
class Round:
    """One round against one server: the latencies of its 202s (s), and what else came back."""

    seconds: float
    latencies: list[float]
    errors: Counter[str]
    server_cpu_s: float
    client_cpu_s: float
    machine_cpu_s: float


@final
@dataclass(frozen=True, slots=True)
class Row:
    """One server's line of the table: its rounds taken together."""

    name: str
    rounds: list[Round] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        return sum(each.seconds for each in self.rounds)

    @property
    def latencies(self) -> list[float]:
        return [latency for each in self.rounds for latency in each.latencies]

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds

    def percentile_ms(self, cut: int) -> float:
        latencies = self.latencies
        if len(latencies) < 2:
            return float("nan")
        return statistics.quantiles(latencies, n=100, method="inclusive")[cut - 1] * 1000

    def errors(self) -> str:
        total = sum((each.errors for each in self.rounds), Counter[str]())
        return ", ".join(f"{what}: {count}" for what, count in total.most_common()) or "0"

    def cpu_shares(self) -> tuple[float, float, float]:
        """The server's, the client's and the whole machine's CPU time over the wall time."""
        rounds, seconds = self.rounds, self.seconds
        server = sum(each.server_cpu_s for each in rounds) / seconds
        client = sum(each.client_cpu_s for each in rounds) / seconds
        return server, client, sum(each.machine_cpu_s for each in rounds) / seconds


def serve_bare() -> None:
    """The anchor: ``POST /v1/jobs`` decoded as a ``SubmitRequest``, 202 and a small JSON
    body, until stdin closes. Prints its URL first, on a line of its own."""
    decoder, encoder = msgspec.json.Decoder(SubmitRequest), msgspec.json.Encoder()

    async def submit(request: web.Request) -> web.Response:
        try:
            body = decoder.decode(await request.read())
        except msgspec.DecodeError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        answer = {"id": uuid.uuid4().hex, "kind": body.kind, "status": "queued"}
        return web.Response(
            status=202, body=encoder.encode(answer), content_type="application/json"
        )

    async def run() -> None:
        app = web.Application()
        app.router.add_post("/v1/jobs", submit)
        runner = web.AppRunner(app, handle_signals=False)
        await runner.setup()
        try:
            sock = socket.create_server(("127.0.0.1", 0))
            await web.SockSite(runner, sock).start()
            print(f"http://127.0.0.1:{sock.getsockname()[1]}", flush=True)
            await to_thread.run_sync(sys.stdin.read)
        finally:
            await runner.cleanup()

    anyio.run(run, backend="asyncio")


def _stop(process: subprocess.Popen[bytes], server: Server | None = None) -> None:
    """SIGTERM (the daemon drains), ``STOP_S`` to exit, then SIGKILL; always waited for."""
    started = time.perf_counter()
    if process.poll() is None:
        process.terminate()
    try:
        code = process.wait(STOP_S)
        ended = f"exit {code} {time.perf_counter() - started:.1f} s after SIGTERM"
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        ended = f"SIGKILL, still draining {STOP_S:g} s after SIGTERM"
    if server is not None:
        server.stopped = ended


@contextmanager
def _bare() -> Iterator[Server]:
    argv = [sys.executable, "-m", "bench.api", "--bare"]
    pipe = subprocess.PIPE
    with subprocess.Popen(argv, stdin=pipe, stdout=pipe) as process:
        try:
            assert process.stdout is not None
            url = process.stdout.readline().decode().strip()
            if not url:
                raise RuntimeError(f"the bare server did not start: {' '.join(argv)}")
            server = Server("bare aiohttp handler", url, process.pid)
            yield server
        finally:
            _stop(process)


@contextmanager
def _daemon(scratch: Path) -> Iterator[Server]:
    log = scratch / "daemon.log"
    # Our variables only: a FANOUT_TOKEN or a [jobs] limit from the caller's shell would
    # change what is measured.
    env = {name: value for name, value in os.environ.items() if not name.startswith("FANOUT_")}
    env |= DAEMON_ENV
    env["FANOUT_STORAGE__PATH"] = str(scratch / "fanout.sqlite3")
    env["FANOUT_STORAGE__ARTIFACTS_DIR"] = str(scratch / "artifacts")
    argv = [sys.executable, "-m", "service", "serve"]
    with log.open("wb") as sink:
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stderr=sink, env=env)
    server = Server("daemon (fanout serve)", "", process.pid, log)
    try:
        server.url = _served_url(process, log)
        yield server
    finally:
        _stop(process, server)


def _served_url(process: subprocess.Popen[bytes], log: Path) -> str:
    deadline = time.monotonic() + START_S
    while time.monotonic() < deadline:
        for line in log.read_text(errors="replace").splitlines():
            if line.startswith(_READY):
                return line.removeprefix(_READY).strip()
        if process.poll() is not None:
            tail = log.read_text(errors="replace").strip()[-2000:]
            raise RuntimeError(f"the daemon exited ({process.returncode}) before serving:\n{tail}")
        time.sleep(0.05)
    raise RuntimeError(f"the daemon did not serve within {START_S:g} s; see {log}")


def _process_cpu_s(pid: int) -> float:
    """User + system time of the process and every process under it: all their threads, and
    the children they have reaped. The daemon's Life jobs run in its worker processes
    (children of its forkserver), and that work is the daemon's too."""
    return sum(_own_cpu_s(each) for each in _tree(pid))


def _tree(pid: int) -> set[int]:
    """``pid`` and every process under it now."""
    return {pid} | descendants(pid)


def _own_cpu_s(pid: int) -> float:
    """From ``/proc/PID/stat``: utime, stime, cutime and cstime (fields 14 to 17, counted
    from 1); 0 for a process that is gone meanwhile (its parent's cutime has it then)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            text = stat.read()
    except OSError:
        return 0.0
    fields = text[text.rindex(")") + 2 :].split()
    return sum(int(ticks) for ticks in fields[11:15]) / _CLOCK_TICKS


def _machine_cpu_s() -> float:
    """CPU time all cores have spent busy since boot (not idle, not waiting for I/O)."""
    with open("/proc/stat", encoding="ascii") as stat:
        ticks = [int(count) for count in stat.readline().split()[1:]]
    return (sum(ticks) - ticks[3] - ticks[4]) / _CLOCK_TICKS


@contextmanager
def _paused(servers: list[Server]) -> Iterator[None]:
    """``servers`` stopped (SIGSTOP) for the block, with the processes under them (the daemon's
    job workers), and continued (SIGCONT) whatever happens."""
    stopped = [pid for server in servers for pid in sorted(_tree(server.pid))]
    for pid in stopped:
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for pid in stopped:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)


async def _load(session: aiohttp.ClientSession, server: Server, seconds: float) -> Round:
    """``CONNECTIONS`` tasks submitting for ``seconds``, each waiting for its answer."""
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    url = f"{server.url}/v1/jobs"

    async def submitter(deadline: float) -> None:
        while time.perf_counter() < deadline:
            sent = time.perf_counter()
            try:
                async with session.post(url, data=BODY, headers=_HEADERS) as response:
                    await response.read()
            except (aiohttp.ClientError, TimeoutError) as exc:
                errors[type(exc).__name__] += 1
                continue
            if response.status == 202:
                latencies.append(time.perf_counter() - sent)
            else:
                errors[f"HTTP {response.status}"] += 1

    cpu = (_process_cpu_s(server.pid), time.process_time(), _machine_cpu_s())
    started = time.perf_counter()
    async with anyio.create_task_group() as group:
        for _ in range(CONNECTIONS):
            group.start_soon(submitter, started + seconds)
    elapsed = time.perf_counter() - started
    server_s, client_s, machine_s = (
        _process_cpu_s(server.pid) - cpu[0],
        time.process_time() - cpu[1],
        _machine_cpu_s() - cpu[2],
    )
    return Round(elapsed, latencies, errors, server_s, client_s, machine_s)


@asynccontextmanager
async def _session() -> AsyncIterator[aiohttp.ClientSession]:
    connector = aiohttp.TCPConnector(limit=CONNECTIONS)
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        yield session


async def _measure(servers: list[Server]) -> tuple[list[Row], list[int]]:
    """The rows, in the order of ``servers``, and how many 202s each took in all."""
    async with AsyncExitStack() as stack:
        sessions = [await stack.enter_async_context(_session()) for _ in servers]

        async def turn(index: int, seconds: float) -> Round:
            with _paused([other for other in servers if other is not servers[index]]):
                return await _load(sessions[index], servers[index], seconds)

        warmups = [await turn(index, WARMUP_S) for index in range(len(servers))]
        rows = [Row(server.name) for server in servers]
        for _ in range(ROUNDS):  # in turns
            for index, row in enumerate(rows):
                row.rounds.append(await turn(index, ROUND_S))
        taken = [len(w.latencies) + len(r.latencies) for w, r in zip(warmups, rows, strict=True)]
        return rows, taken


async def _job_counts(url: str) -> tuple[int, int]:
    """Jobs finished and jobs still queued, from the daemon's ``/metrics``."""
    async with _session() as session, session.get(f"{url}/metrics") as response:
        text = await response.text()
    finished = queued = 0.0
    for line in text.splitlines():
        if line.startswith("fanout_jobs_finished_total{"):
            finished += float(line.rpartition(" ")[2])
        elif line.startswith("fanout_jobs_queued "):
            queued = float(line.rpartition(" ")[2])
    return int(finished), int(queued)


def _print_table(rows: list[Row]) -> None:
    print(
        f"\n**Submissions** — `POST /v1/jobs` with `{BODY.decode()}`, {CONNECTIONS} connections "
        f"(an aiohttp session per server, `TCPConnector(limit={CONNECTIONS})`, {CONNECTIONS} tasks "
        f"submitting in a loop), {ROUNDS} rounds of {ROUND_S:g} s per server in turns after a "
        f"{WARMUP_S:g} s warm-up each, the other server paused; requests = 202 answers; latency "
        "from send to body read, in the client; CPU = user + system time over the wall time "
        f"(100% = one core; the machine has {os.cpu_count()}):\n"
    )
    print(
        "| server | requests | seconds | requests/s | vs bare | p50 (ms) | p99 (ms) | errors "
        "| server CPU | client CPU | machine CPU | rounds (requests/s) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---|")
    bare = rows[-1].rate
    for row in rows:
        rounds = ", ".join(f"{len(each.latencies) / each.seconds:.0f}" for each in row.rounds)
        server, client, machine = row.cpu_shares()
        print(
            f"| {row.name} | {len(row.latencies)} | {row.seconds:.1f} | {row.rate:.0f} | "
            f"{row.rate / bare:.2f}x | {row.percentile_ms(50):.1f} | {row.percentile_ms(99):.1f} "
            f"| {row.errors()} | {server:.0%} | {client:.0%} | {machine:.0%} | {rounds} |"
        )


def _print_client_bound(rows: list[Row]) -> None:
    for row in rows:
        client = row.cpu_shares()[1]
        if client >= CLIENT_BOUND:
            print(
                f"\nThe client took {client:.0%} of a core against the {row.name}: that rate is "
                "the client's limit as much as the server's (a floor of what it can take)."
            )


def _print_targets(daemon: Row, bare: Row) -> None:
    share, p99 = daemon.rate / bare.rate, daemon.percentile_ms(99)
    print(
        f"\nTargets: the daemon >= {TARGET_SHARE:.0%} of the bare handler's rate ({share:.1%}: "
        f"{'met' if share >= TARGET_SHARE else 'MISSED'}); its p99 < {TARGET_P99_MS:g} ms "
        f"({p99:.1f} ms: {'met' if p99 < TARGET_P99_MS else 'MISSED'})."
    )


def main() -> None:
    """Measure both servers and print the table (Markdown, for README) and the targets."""
    libraries = " · ".join(f"{name} {version(name)}" for name in ("anyio", "aiohttp", "msgspec"))
    print(f"Measured {machine()} · {libraries}.")
    with (
        tempfile.TemporaryDirectory(prefix="fanout-bench-") as scratch,
        _daemon(Path(scratch)) as daemon,
        _bare() as bare,
    ):
        rows, taken = anyio.run(_measure, [daemon, bare], backend="asyncio")
        finished, queued = anyio.run(_job_counts, daemon.url, backend="asyncio")
        assert daemon.log is not None
        lines = daemon.log.read_bytes().count(b"\n")
    _print_table(rows)
    _print_client_bound(rows)
    print(
        f"\nThe daemon, after the last round: {finished} of the {taken[0]} jobs it took "
        f"(warm-up included) had run, {queued} still queued; it had written {lines} log lines "
        f"({lines / taken[0]:.1f} a job); stopped: {daemon.stopped}."
    )
    _print_targets(rows[0], rows[1])


if __name__ == "__main__":
    if sys.argv[1:] == ["--bare"]:
        serve_bare()
    else:
        main()
