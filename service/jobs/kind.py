"""What the job manager needs from each kind of job (life, encrypt, decrypt, pipeline).

A kind declares its parameters as a ``msgspec.Struct`` (checked on submission, and published
in ``/openapi.json``), names the fields that are secrets (kept in memory only, never stored or
logged) and those that carry its input data (used for the run, never stored either), checks
the parameters against the settings, and runs a job with a :class:`JobContext` the manager
gives it: progress, the place for its artifact, its secret and, for uploads, the request body
as it streams in.

A request is read once: ``check`` judges the parameters, ``admit`` turns them into the kind's
typed request (a Life job's pattern parsed, its universe named) and the run gets that same
object back as ``context.request``. Only a job revived from the store after a restart, whose
request lived in the old process's memory, has none and is admitted again by its kind.

A kind sees service types only: its secret is a ``Password``, the worker processes are
``Workers`` (a function run in another process), never an adapter's pool."""

from __future__ import annotations

from collections.abc import AsyncIterable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol, TypeVar, final

import msgspec

from service.config import Settings
from service.crypto import Password
from service.jobs.model import Job

__all__ = ["JobContext", "Kind", "Outcome", "WorkerFailed", "Workers"]

T = TypeVar("T")
R = TypeVar("R")


class WorkerFailed(Exception):
    """Raised by ``Workers.run`` when the worker process died, or the function's exception
    could not travel back as itself; the message says which."""


class Workers(Protocol):
    """The manager's worker processes, as a kind sees them."""

    async def run(self, function: Callable[[T], R], argument: T, /) -> R:
        """``function(argument)`` in a worker process (both picklable; the function at a
        module's top level); its result, or its exception, or WorkerFailed."""
        ...


class JobContext(Protocol):
    """What a running job may use; given by the manager."""

    @property
    def job(self) -> Job: ...

    @property
    def settings(self) -> Settings: ...

    @property
    def secret(self) -> Password | None:
        """The job's password, if its kind has one; never stored, wiped when the job ends."""
        ...

    @property
    def request(self) -> object | None:
        """What ``Kind.admit`` made of the parameters in this process, or None (a job revived
        after a restart)."""
        ...

    @property
    def payload(self) -> AsyncIterable[bytes] | None:
        """The request body, streamed as it arrives (encrypt / decrypt uploads), or None."""
        ...

    @property
    def processes(self) -> Workers | None:
        """The manager's worker processes for CPU work (``[jobs] worker_processes``), or None
        when there are none: then such work runs on threads."""
        ...

    def artifact_path(self, suffix: str) -> Path:
        """Where to write the job's artifact (the manager renames nothing: write it there,
        atomically - a temporary name beside it, then rename)."""
        ...

    def progress(self, done: int, total: int) -> None:
        """Report progress; cheap to call often (the manager throttles what it stores)."""
        ...


@final
@dataclass(frozen=True, slots=True)
class Outcome:
    """A finished job: its result summary (JSON-able) and artifact, if it made one.

    ``synced``: the kind has made the artifact durable itself, in the thread that wrote it
    (:func:`~service.jobs.artifacts.sync_artifact`), so the manager need not send it to a
    worker thread once more to do so.

    ``failure``: the job did its work but not all of it went well (a pipeline with an item
    that failed): it ends ``failed`` with this message, its result and artifact kept.
    """

    result: dict[str, Any]
    artifact: Path | None = None
    media_type: str | None = None
    synced: bool = False
    failure: str | None = None


class Kind(Protocol):
    """One kind of job."""

    name: ClassVar[str]
    params: ClassVar[type[msgspec.Struct]]
    secret_fields: ClassVar[tuple[str, ...]]
    payload_fields: ClassVar[tuple[str, ...]]
    """Parameters that carry the job's input data (base64 bytes): the run gets them, the
    store and every view of the job do not, like secrets."""

    def check(self, params: msgspec.Struct, settings: Settings) -> None:
        """Refuse parameters past the settings' limits (InvalidInput / LimitExceeded)."""
        ...

    async def admit(self, params: msgspec.Struct, settings: Settings) -> object | None:
        """The kind's typed request, made once, before the job is accepted: it refuses what
        only some work can find (a pattern that does not parse or fit its grid); work past a
        few microseconds goes to a thread. None when the parameters are the request."""
        ...

    def timeout_s(self, settings: Settings) -> float | None:
        """The kind's time limit, or None."""
        ...

    def max_running(self, settings: Settings) -> int | None:
        """At most this many jobs of the kind run at once (within ``[jobs] max_running``), or
        None for no bound of its own."""
        ...

    async def run(self, params: msgspec.Struct, context: JobContext) -> Outcome: ...
