"""A mixed load of 200 jobs for a ``fanout serve`` process, and what it left, for the shutdown
and crash tests.

::

    load = Load(mixed_load(images, ciphertext))
    async with anyio.create_task_group() as group:
        load.start(group, session, daemon.url)
        await eventually(lambda: load.in_the_middle(client))
        load.act()                       # then SIGTERM, or SIGKILL

The load has every kind and every way in: Life of every size (a few on worker processes),
encrypt and decrypt with base64 ``data`` and with raw upload bodies, pipeline jobs against a
loopback image server. A few jobs *hold*: they run until the daemon stops them (Life for a
million generations, a download that stalls, an upload whose body stops half-way), so there are
always running jobs when a test acts, and the jobs behind them wait in the queue.

Every request is kept with what came back (a ``Reply``, or the connection error) and whether it
was sent before the test acted. :class:`Descendants` remembers every process the daemon started
while it ran (openssl children live in sessions of their own, out of ``survivors()``'s sight).
"""

from __future__ import annotations

import base64
import io
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

import aiohttp
import anyio
from anyio.abc import TaskGroup

from service.client import Client
from service.jobs.model import Job, JobState
from service.system.processes import processes
from tests.api._http import LONG_LIFE, Reply, Stalled
from tests.fixtures import GLIDER
from tests.pipeline._server import Served

__all__ = [
    "ITERATIONS",
    "OCTETS",
    "PASSWORD",
    "PLAINTEXT",
    "RUNNERS",
    "Descendants",
    "Load",
    "Sent",
    "Spec",
    "daemon_variables",
    "decrypted",
    "encrypted",
    "mixed_load",
    "small_life",
]

PASSWORD: Final = "load-test-password"
PLAINTEXT: Final = bytes(range(256)) * 96
"""What the decrypt jobs of the load decrypt to (the ciphertext is made by the daemon)."""
ITERATIONS: Final = 1_000
STALLED_DIGEST: Final = "sha512"
"""Marks the stalled uploads among the running jobs (the others digest with sha256)."""
MAX_RUNNING: Final = 8
RUNNERS: Final = ("async", "thread")
"""``[crypto] runner``: openssl's pipes watched by the event loop, or by worker threads."""
OCTETS: Final = {"Content-Type": "application/octet-stream", "X-Fanout-Password": PASSWORD}

Route = Literal["json", "upload", "stalled"]


def daemon_variables(
    images: Served, delivered: Path, *, grace_s: float, runner: str = "async"
) -> dict[str, str]:
    """The daemon's settings for the load: room for all of it in the queue, fast PBKDF2,
    openssl run by ``runner``, pipeline jobs from ``images`` into the directory ``delivered``."""
    return {
        "FANOUT_CRYPTO__RUNNER": runner,
        "FANOUT_JOBS__MAX_RUNNING": str(MAX_RUNNING),
        "FANOUT_JOBS__MAX_QUEUED": "1000",
        "FANOUT_JOBS__SHUTDOWN_GRACE_S": str(grace_s),
        "FANOUT_CRYPTO__PBKDF2_ITERATIONS": str(ITERATIONS),
        "FANOUT_PIPELINE__ALLOWED_SOURCES": f"{images.base}/img/,{images.base}/slow/",
        "FANOUT_PIPELINE__ALLOW_PRIVATE": "true",  # the image server is on loopback
        "FANOUT_PIPELINE__DESTINATIONS__DELIVERED": str(delivered),
        "FANOUT_PIPELINE__SIZE": "48x48",
        "FANOUT_PIPELINE__FORMAT": "png",
    }


@dataclass(frozen=True)
class Spec:
    """One job of the load: how it is sent, and what its artifact must be if it succeeds."""

    kind: str
    route: Route
    params: dict[str, Any]
    body: bytes = b""
    holds: bool = False
    """It runs until the daemon stops it."""

    @property
    def plaintext(self) -> bytes | None:
        """The bytes an encrypt job encrypted, or a decrypt job must give back."""
        if self.kind == "decrypt":
            return PLAINTEXT
        if self.kind != "encrypt":
            return None
        return base64.b64decode(self.params["data"]) if self.route == "json" else self.body


def mixed_load(images: Served, ciphertext: bytes, *, seed: int = 7) -> list[Spec]:
    """200 jobs: the holding ones first (so they are running when a test acts), the rest
    shuffled."""
    rng = random.Random(seed)
    holding = [
        Spec("life", "json", dict(LONG_LIFE), holds=True),
        Spec("life", "json", dict(LONG_LIFE), holds=True),
        _pipeline([images.url("/slow/stuck.jpg")], holds=True),
        *(Spec("encrypt", "stalled", {"digest": STALLED_DIGEST}, holds=True) for _ in range(3)),
    ]
    rest = [
        *(_life({"pattern": GLIDER, "generations": n % 40}) for n in range(62)),
        *(_life(_soup(64 + n % 4 * 32, n, 300)) for n in range(30)),
        *(_life({**_soup(96, n, 200), "strategy": "processes", "workers": 2}) for n in range(4)),
        *(_encrypt_json(rng.randbytes(rng.randrange(1, 32_768))) for _ in range(36)),
        *(_decrypt_json(ciphertext) for _ in range(24)),
        *(
            Spec("encrypt", "upload", {}, rng.randbytes(rng.randrange(1, 1 << 20)))
            for _ in range(20)
        ),
        *(Spec("decrypt", "upload", {}, ciphertext) for _ in range(10)),
        *(_pipeline([images.url(f"/img/{n}-{k}.jpg") for k in range(2)]) for n in range(8)),
    ]
    rng.shuffle(rest)
    return holding + rest


def small_life(count: int) -> list[Spec]:
    """``count`` Life jobs of a few generations of a glider."""
    return [_life({"pattern": GLIDER, "generations": n % 8}) for n in range(count)]


def _life(params: dict[str, Any]) -> Spec:
    return Spec("life", "json", params)


def _soup(side: int, seed: int, generations: int) -> dict[str, Any]:
    soup = f"{side}x{side}:0.35:{seed}"
    return {"random": soup, "generations": generations, "topology": "torus"}


def _encrypt_json(data: bytes) -> Spec:
    return Spec("encrypt", "json", {"data": _base64(data), "password": PASSWORD})


def _decrypt_json(ciphertext: bytes) -> Spec:
    return Spec("decrypt", "json", {"data": _base64(ciphertext), "password": PASSWORD})


def _pipeline(sources: list[str], *, holds: bool = False) -> Spec:
    return Spec("pipeline", "json", {"sources": sources, "destination": "delivered"}, holds=holds)


def _base64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@dataclass
class Sent:
    """One request of the load: was it sent before the test acted, and what came back."""

    spec: Spec
    before: bool
    reply: Reply | None = None
    failure: BaseException | None = None

    @property
    def job(self) -> Job | None:
        """The job the daemon took: 202 (queued), 201 or 200 (an upload that ended)."""
        if self.reply is None or self.reply.status not in (200, 201, 202):
            return None
        return self.reply.job()


@dataclass
class Load:
    """The requests of a load, sent all at once; ``act()`` marks the moment the test acts."""

    specs: list[Spec]
    sent: list[Sent] = field(default_factory=list)
    acted: bool = False
    stalled: list[str] = field(default_factory=list)
    _bodies: list[Stalled] = field(default_factory=list)

    def start(self, group: TaskGroup, session: aiohttp.ClientSession, base_url: str) -> None:
        """Send every request from its own task in ``group``."""
        for spec in self.specs:
            group.start_soon(self._send, session, base_url, Sent(spec, before=not self.acted))

    def more(
        self, group: TaskGroup, session: aiohttp.ClientSession, base_url: str, specs: list[Spec]
    ) -> None:
        """Send ``specs`` too, each from its own task (sent now: before the test acts next)."""
        self.specs.extend(specs)
        for spec in specs:
            group.start_soon(self._send, session, base_url, Sent(spec, before=not self.acted))

    def act(self) -> None:
        self.acted = True

    def release(self) -> None:
        """Let the stalled bodies end (their requests have been answered or cut by now)."""
        for body in self._bodies:
            body.release()

    def accepted(self) -> dict[str, Sent]:
        """The requests the daemon took a job for, by job id."""
        return {sent.job.id: sent for sent in self.sent if sent.job is not None}

    def answered(self, route: Route) -> int:
        return sum(1 for sent in self.sent if sent.spec.route == route and sent.reply is not None)

    def count(self, route: Route) -> int:
        return sum(1 for spec in self.specs if spec.route == route)

    async def in_the_middle(self, client: Client, *, succeeded: int = 20) -> bool:
        """Whether every JSON job was answered, ``succeeded`` jobs or more have, the holding
        jobs run (the stalled uploads among them: their ids are then in ``stalled``) and jobs
        wait in the queue."""
        if self.answered("json") < self.count("json"):
            return False
        running = {job.id: job for job in await _jobs(client, JobState.RUNNING)}
        holding = {job_id for job_id, sent in self.accepted().items() if sent.spec.holds}
        stalled = [job.id for job in running.values() if job.params.get("digest") == STALLED_DIGEST]
        if not holding <= set(running) or len(stalled) < self.count("stalled"):
            return False
        self.stalled = stalled
        done = await _jobs(client, JobState.SUCCEEDED)
        return len(done) >= succeeded and bool(await _jobs(client, JobState.QUEUED))

    async def _send(self, session: aiohttp.ClientSession, base_url: str, sent: Sent) -> None:
        self.sent.append(sent)
        try:
            sent.reply = await _request(session, base_url, sent.spec, self._body(sent.spec))
        except aiohttp.ClientError as exc:
            sent.failure = exc

    def _body(self, spec: Spec) -> Any:
        if spec.route == "stalled":
            stalled = Stalled(PLAINTEXT[:4096], PLAINTEXT[4096:])
            self._bodies.append(stalled)
            return stalled.chunks()
        return io.BytesIO(spec.body)  # aiohttp warns about big bytes bodies


async def _request(session: aiohttp.ClientSession, base_url: str, spec: Spec, body: Any) -> Reply:
    if spec.route == "json":
        options: dict[str, Any] = {"json": {"kind": spec.kind, "params": spec.params}}
        url = f"{base_url}/v1/jobs"
    else:
        options = {"data": body, "headers": OCTETS, "params": spec.params}
        url = f"{base_url}/v1/jobs/{spec.kind}"
    async with session.post(url, **options) as response:
        return Reply(response.status, response.headers, await response.read())


async def _jobs(client: Client, status: JobState) -> list[Job]:
    return (await client.list(status=status, limit=500)).jobs


async def encrypted(client: Client, data: bytes) -> bytes:
    """``data`` encrypted by the daemon, with the load's password."""
    job = await client.upload("encrypt", data, password=PASSWORD)
    assert job.status is JobState.SUCCEEDED, job.error
    return await client.result(job.id)


async def decrypted(client: Client, ciphertext: bytes) -> bytes:
    """``ciphertext`` decrypted by the daemon, with the load's password."""
    job = await client.upload("decrypt", ciphertext, password=PASSWORD)
    assert job.status is JobState.SUCCEEDED, job.error
    return await client.result(job.id)


@dataclass
class Descendants:
    """Every process descended from ``root`` seen while :meth:`watch` ran, by pid and start
    time (a pid the system gives again to another process is not mistaken for it)."""

    root: int
    seen: dict[tuple[int, int], str] = field(default_factory=dict)
    """(pid, start time) -> the latest name seen (a child execs: ``python`` becomes ``openssl``)."""

    async def watch(self, every_s: float = 0.05) -> None:
        """Look every ``every_s`` until cancelled (short-lived children may slip through)."""
        while True:
            self.look()
            await anyio.sleep(every_s)

    def look(self) -> None:
        children: dict[int, list[tuple[int, int, str]]] = {}
        for each in processes():
            children.setdefault(each.parent, []).append((each.pid, each.start_ticks, each.name))
        pending = list(children.get(self.root, []))
        while pending:
            pid, start, name = pending.pop()
            self.seen[pid, start] = name
            pending.extend(children.get(pid, []))

    def alive(self) -> list[str]:
        """Those seen that still run (zombies included), as ``name[pid]``."""
        now = {(each.pid, each.start_ticks) for each in processes()}
        return [f"{name}[{pid}]" for (pid, start), name in self.seen.items() if (pid, start) in now]
