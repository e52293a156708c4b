"""``fanout jobs ...``: the daemon's HTTP API from the command line, through ``service.client``.

Each command prints the job as one JSON object on stdout (``result`` writes the artifact).
The daemon is ``--url``, else the ``[http]`` host and port of the config; the token comes from
``FANOUT_TOKEN``. A password for ``encrypt`` / ``decrypt`` comes from ``--password-file``
(its first line), else ``FANOUT_PASSWORD``; never from the command line.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, TypeVar, final

import anyio
import click
import msgspec

from service._cli_interrupt import until_interrupted
from service.client import Client
from service.config import HttpSettings
from service.environment import PASSWORD_VARIABLE as _PASSWORD_VARIABLE
from service.environment import TOKEN_VARIABLE, secret
from service.errors import InvalidInput, Unauthorized
from service.jobs.model import Job, JobState

__all__ = [
    "Daemon",
    "cancel_job",
    "default_url",
    "get_job",
    "job_result",
    "parse_params",
    "read_password",
    "submit_job",
    "wait_job",
]

T = TypeVar("T")
_ANY_ADDRESS: Final = {"0.0.0.0": "127.0.0.1", "::": "::1", "[::]": "::1"}


def default_url(http: HttpSettings) -> str:
    """The daemon's URL from the config; a wildcard address is reached on loopback."""
    host = _ANY_ADDRESS.get(http.host, http.host)
    shown = f"[{host}]" if ":" in host and not host.startswith("[") else host
    return f"http://{shown}:{http.port}"


def parse_params(text: str) -> dict[str, Any]:
    """``--params``: a JSON object, or ``@FILE`` holding one."""
    source = "--params"
    if text.startswith("@"):
        source = text[1:]
        try:
            text = Path(source).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidInput(f"cannot read --params file {source!r}: {exc}") from exc
    try:
        params = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{source}: not JSON: {exc}") from exc
    if not isinstance(params, dict):
        raise InvalidInput(f"{source}: must be a JSON object of parameters, got {text[:40]!r}")
    return params


def read_password(path: str | None) -> str | None:
    """The first line of ``path``, else ``$FANOUT_PASSWORD``, else None."""
    if path is None:
        return secret(_PASSWORD_VARIABLE) or None
    try:
        with open(path, encoding="utf-8") as file:
            first = file.readline().rstrip("\r\n")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"cannot read password file {path!r}: {exc}") from exc
    if not first:
        raise InvalidInput(f"password file {path!r} is empty: put the password on its first line")
    return first


def submit_job(
    daemon: Daemon, kind: str, params: dict[str, Any], *, password: str | None, wait: bool
) -> int:
    """Submit (and with ``wait``, wait for) a job; the exit status (see ``_status``)."""

    async def submit(client: Client) -> Job:
        job = await client.submit(kind, params, password=password)
        return await client.wait(job.id) if wait else job

    return _print(_call(daemon, submit))


def get_job(daemon: Daemon, job_id: str) -> int:
    return _print(_call(daemon, lambda client: client.get(job_id)))


def wait_job(daemon: Daemon, job_id: str, *, timeout_s: float | None) -> int:
    return _print(_call(daemon, lambda client: client.wait(job_id, timeout_s=timeout_s)))


def cancel_job(daemon: Daemon, job_id: str) -> int:
    _print(_call(daemon, lambda client: client.cancel(job_id)))
    return 0


def job_result(daemon: Daemon, job_id: str, output: str) -> None:
    """Write the artifact to ``output`` (``-`` for stdout), streamed."""

    async def fetch(client: Client) -> int:
        if output != "-":
            return await client.save_result(job_id, output)
        written = 0
        async for chunk in client.result_chunks(job_id):
            sys.stdout.buffer.write(chunk)
            written += len(chunk)
        sys.stdout.buffer.flush()
        return written

    written = _call(daemon, lambda client: until_interrupted(lambda: fetch(client)))
    if written is None:
        raise click.Abort  # interrupted: the partial file is gone
    if output != "-":
        click.echo(f"wrote {written} bytes to {output}", err=True)


@final
@dataclass(frozen=True, slots=True)
class Daemon:
    """The daemon ``fanout jobs`` talks to: its URL, and the token if one was given."""

    url: str
    token: str | None = field(default=None, repr=False)

    @classmethod
    def given(cls, url: str, token_file: str | None) -> Daemon:
        """``url`` with the token of ``token_file`` (its first line), else of FANOUT_TOKEN."""
        if token_file is None:
            return cls(url, secret(TOKEN_VARIABLE) or None)
        try:
            with open(token_file, encoding="utf-8") as file:
                token = file.readline().strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidInput(f"cannot read token file {token_file!r}: {exc}") from exc
        if not token:
            raise InvalidInput(f"token file {token_file!r}: its first line is empty")
        return cls(url, token)


def _call(daemon: Daemon, action: Callable[[Client], Awaitable[T]]) -> T:
    async def main() -> T:
        async with Client(daemon.url, token=daemon.token) as client:
            return await action(client)

    try:
        return anyio.run(main, backend="asyncio")
    except Unauthorized as exc:
        # The API's own words ("send 'Authorization: Bearer <token>'") speak HTTP, not this
        # command: say how to give the token here.
        given = "the token given was refused" if daemon.token else "it needs a token"
        raise Unauthorized(
            f"the daemon at {daemon.url} says: {exc}; {given}: set {TOKEN_VARIABLE} or use "
            "'fanout jobs --token-file FILE'"
        ) from exc


def _print(job: Job) -> int:
    """Print the job; 0 unless it ended without succeeding (failed, cancelled, interrupted)."""
    click.echo(msgspec.json.encode(job).decode())
    return 1 if job.finished and job.status is not JobState.SUCCEEDED else 0
