"""Small real kinds for the manager's tests: they implement the Kind protocol and watch
themselves (how many run at once, whether cancellation reached them)."""

from __future__ import annotations

import hashlib
import os
from typing import ClassVar, Final

import anyio
import msgspec

from service.config import Settings
from service.crypto import Password
from service.errors import LimitExceeded, WorkerError
from service.jobs.artifacts import write_artifact
from service.jobs.kind import JobContext, Kind, Outcome

__all__ = ["PASSWORD", "CountKind", "CountParams", "GateKind", "SecretKind", "UploadKind", "kinds"]

PASSWORD: Final = "hunter2-very-secret-xyzzy"


class CountParams(msgspec.Struct, forbid_unknown_fields=True):
    n: int = 3
    sleep_s: float = 0.0
    fail: str | None = None
    crash: bool = False
    artifact: bool = True
    threaded: bool = False
    phantom: bool = False


class CountKind:
    """Counts to ``n`` reporting progress (from a worker thread if ``threaded``), then writes
    ``n`` as its artifact (or, if ``phantom``, names one it never wrote); fails with WorkerError
    or crashes with ZeroDivisionError on request."""

    name: ClassVar[str] = "count"
    params: ClassVar[type[msgspec.Struct]] = CountParams
    secret_fields: ClassVar[tuple[str, ...]] = ()
    payload_fields: ClassVar[tuple[str, ...]] = ()

    def __init__(self, *, timeout_s: float | None = None, max_running: int | None = None) -> None:
        self.limit_s = timeout_s
        self.at_once = max_running
        self.running = 0
        self.peak = 0
        self.cancelled = 0

    def check(self, params: msgspec.Struct, settings: Settings) -> None:
        assert isinstance(params, CountParams)
        if params.n > 10_000:
            raise LimitExceeded(f"n {params.n}: must be at most 10000")

    async def admit(self, params: msgspec.Struct, settings: Settings) -> None:
        return None  # nothing here needs more than check's look

    def timeout_s(self, settings: Settings) -> float | None:
        return self.limit_s

    def max_running(self, settings: Settings) -> int | None:
        return self.at_once

    async def run(self, params: msgspec.Struct, context: JobContext) -> Outcome:
        assert isinstance(params, CountParams)
        self.running += 1
        self.peak = max(self.peak, self.running)
        try:
            await self._count(params, context)
        except anyio.get_cancelled_exc_class():
            self.cancelled += 1
            raise
        finally:
            self.running -= 1
        if params.fail is not None:
            raise WorkerError(params.fail)
        if params.crash:
            raise ZeroDivisionError("division by zero in the count")
        if not params.artifact:
            return Outcome({"counted": params.n})
        path = context.artifact_path(".txt")
        if not params.phantom:
            await write_artifact(path, f"{params.n}\n".encode())
        return Outcome({"counted": params.n}, path, "text/plain")

    async def _count(self, params: CountParams, context: JobContext) -> None:
        for done in range(1, params.n + 1):
            if params.threaded:  # progress may come from a kind's worker thread
                await anyio.to_thread.run_sync(context.progress, done, params.n)
            else:
                context.progress(done, params.n)
            await anyio.sleep(params.sleep_s)


class GateParams(msgspec.Struct):
    tag: str = ""


class GateKind:
    """Runs until its gate opens (``release``) or it is cancelled; tells who is running."""

    name: ClassVar[str] = "gate"
    params: ClassVar[type[msgspec.Struct]] = GateParams
    secret_fields: ClassVar[tuple[str, ...]] = ()
    payload_fields: ClassVar[tuple[str, ...]] = ()

    def __init__(self, *, max_running: int | None = None) -> None:
        self.at_once = max_running
        self.running: set[str] = set()
        self.cancelled: list[str] = []
        self.gate = anyio.Event()
        self._changed = anyio.Event()

    def check(self, params: msgspec.Struct, settings: Settings) -> None:
        pass

    async def admit(self, params: msgspec.Struct, settings: Settings) -> None:
        return None  # nothing here needs more than check's look

    def timeout_s(self, settings: Settings) -> float | None:
        return None

    def max_running(self, settings: Settings) -> int | None:
        return self.at_once

    def release(self) -> None:
        self.gate.set()

    async def wait_running(self, count: int) -> None:
        with anyio.fail_after(10):
            while len(self.running) < count:
                self._changed = anyio.Event()
                await self._changed.wait()

    async def run(self, params: msgspec.Struct, context: JobContext) -> Outcome:
        assert isinstance(params, GateParams)
        job_id = context.job.id
        self.running.add(job_id)
        self._changed.set()
        try:
            await self.gate.wait()
        except anyio.get_cancelled_exc_class():
            self.cancelled.append(job_id)
            raise
        finally:
            self.running.discard(job_id)
        return Outcome({"tag": params.tag})


class SecretParams(msgspec.Struct, forbid_unknown_fields=True):
    text: str
    password: str | None = None


class SecretKind:
    """Digests ``text`` keyed with the job's password, kept in memory only; for the text
    ``refuse`` it fails, with a message made of known parts as every kind's are."""

    name: ClassVar[str] = "secret"
    params: ClassVar[type[msgspec.Struct]] = SecretParams
    secret_fields: ClassVar[tuple[str, ...]] = ("password",)
    payload_fields: ClassVar[tuple[str, ...]] = ()

    def check(self, params: msgspec.Struct, settings: Settings) -> None:
        pass

    async def admit(self, params: msgspec.Struct, settings: Settings) -> None:
        return None  # nothing here needs more than check's look

    def timeout_s(self, settings: Settings) -> float | None:
        return None

    def max_running(self, settings: Settings) -> int | None:
        return None

    async def run(self, params: msgspec.Struct, context: JobContext) -> Outcome:
        assert isinstance(params, SecretParams)
        assert context.secret is not None
        assert params.password is None  # the secret never rides in the parameters
        if params.text == "refuse":
            raise WorkerError("openssl refused the password")
        digest = hashlib.sha256(_revealed(context.secret) + f":{params.text}".encode()).hexdigest()
        return Outcome({"digest": digest})


def _revealed(secret: Password) -> bytes:
    """The password's bytes, by the one way out a Password has: the pipe a child would read."""
    descriptor = secret.pipe()
    try:
        return os.read(descriptor, 4096).removesuffix(b"\n")
    finally:
        os.close(descriptor)


class UploadParams(msgspec.Struct):
    pass


class UploadKind:
    """Streams the job's payload into its artifact."""

    name: ClassVar[str] = "upload"
    params: ClassVar[type[msgspec.Struct]] = UploadParams
    secret_fields: ClassVar[tuple[str, ...]] = ()
    payload_fields: ClassVar[tuple[str, ...]] = ()

    def __init__(self, *, max_running: int | None = None) -> None:
        self.at_once = max_running

    def check(self, params: msgspec.Struct, settings: Settings) -> None:
        pass

    async def admit(self, params: msgspec.Struct, settings: Settings) -> None:
        return None  # nothing here needs more than check's look

    def timeout_s(self, settings: Settings) -> float | None:
        return None

    def max_running(self, settings: Settings) -> int | None:
        return self.at_once

    async def run(self, params: msgspec.Struct, context: JobContext) -> Outcome:
        if context.payload is None:
            raise WorkerError("an upload job needs a payload")
        path = context.artifact_path(".bin")
        size = await write_artifact(path, context.payload)
        return Outcome({"bytes": size}, path, "application/octet-stream")


def kinds(*extra: Kind) -> dict[str, Kind]:
    """The test kinds by name; ``extra`` ones (e.g. a CountKind with a time limit) replace
    those of the same name."""
    chosen: list[Kind] = [CountKind(), GateKind(), SecretKind(), UploadKind(), *extra]
    return {kind.name: kind for kind in chosen}
