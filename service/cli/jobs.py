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

from service.cli.app import settings_of
from service.cli.interrupt import until_interrupted
from service.client import Client
from service.config import HttpSettings
from service.errors import InvalidInput, Unauthorized
from service.jobs.model import Job, JobState
from service.system.environment import PASSWORD_VARIABLE as _PASSWORD_VARIABLE
from service.system.environment import TOKEN_VARIABLE, secret

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


@click.group()
@click.option("--url", default=None, help="The daemon (default: http://[http] host:port).")
@click.option("--token-file", metavar="FILE", help="The API token (else FANOUT_TOKEN).")
@click.pass_context
def jobs(ctx: click.Context, url: str | None, token_file: str | None) -> None:
    """Submit, follow and fetch jobs of a running daemon (token: FANOUT_TOKEN)."""
    ctx.obj = Daemon.given(url or default_url(settings_of(ctx).http), token_file)


@jobs.command("submit")
@click.argument("kind")
@click.option("--params", "params", default="{}", metavar="JSON|@FILE", help="The parameters.")
@click.option("--password-file", metavar="FILE", help="The password (else FANOUT_PASSWORD).")
@click.option("--wait", is_flag=True, help="Wait until the job ends; exit 1 unless it succeeded.")
@click.pass_obj
def jobs_submit(
    daemon: Daemon, kind: str, params: str, password_file: str | None, wait: bool
) -> int:
    """Submit a KIND job (life, encrypt, decrypt, pipeline); print it as JSON."""
    password = read_password(password_file)
    if kind in ("encrypt", "decrypt") and password is None:
        raise InvalidInput(
            f"a {kind} job needs a password: use --password-file FILE or set FANOUT_PASSWORD"
        )
    return submit_job(daemon, kind, parse_params(params), password=password, wait=wait)


@jobs.command("get")
@click.argument("job_id", metavar="ID")
@click.pass_obj
def jobs_get(daemon: Daemon, job_id: str) -> int:
    """Print a job as JSON."""
    return get_job(daemon, job_id)


@jobs.command("wait")
@click.argument("job_id", metavar="ID")
@click.option("--timeout", "timeout_s", type=click.FloatRange(0, min_open=True), default=None)
@click.pass_obj
def jobs_wait(daemon: Daemon, job_id: str, timeout_s: float | None) -> int:
    """Wait until a job ends; print it; exit 1 unless it succeeded."""
    return wait_job(daemon, job_id, timeout_s=timeout_s)


@jobs.command("cancel")
@click.argument("job_id", metavar="ID")
@click.pass_obj
def jobs_cancel(daemon: Daemon, job_id: str) -> int:
    """Cancel a queued or running job; print it."""
    return cancel_job(daemon, job_id)


@jobs.command("result")
@click.argument("job_id", metavar="ID")
@click.option("-o", "--output", required=True, metavar="FILE|-", help="Where to write it.")
@click.pass_obj
def jobs_result(daemon: Daemon, job_id: str, output: str) -> None:
    """Write a finished job's artifact to FILE (- for stdout)."""
    job_result(daemon, job_id, output)
