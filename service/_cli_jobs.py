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
from pathlib import Path
from typing import Any, Final, TypeVar

import anyio
import click
import msgspec

from service._cli_interrupt import until_interrupted
from service.client import Client
from service.config import HttpSettings
from service.environment import PASSWORD_VARIABLE as _PASSWORD_VARIABLE
from service.environment import TOKEN_VARIABLE, secret
from service.errors import InvalidInput
from service.jobs.model import Job, JobState

__all__ = [
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
    url: str, kind: str, params: dict[str, Any], *, password: str | None, wait: bool
) -> int:
    """Submit (and with ``wait``, wait for) a job; the exit status (see ``_status``)."""

    async def submit(client: Client) -> Job:
        job = await client.submit(kind, params, password=password)
        return await client.wait(job.id) if wait else job

    return _print(_call(url, submit))


def get_job(url: str, job_id: str) -> int:
    return _print(_call(url, lambda client: client.get(job_id)))


def wait_job(url: str, job_id: str, *, timeout_s: float | None) -> int:
    return _print(_call(url, lambda client: client.wait(job_id, timeout_s=timeout_s)))


def cancel_job(url: str, job_id: str) -> int:
    _print(_call(url, lambda client: client.cancel(job_id)))
    return 0


def job_result(url: str, job_id: str, output: str) -> None:
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

    written = _call(url, lambda client: until_interrupted(lambda: fetch(client)))
    if written is None:
        raise click.Abort  # interrupted: the partial file is gone
    if output != "-":
        click.echo(f"wrote {written} bytes to {output}", err=True)


def _call(url: str, action: Callable[[Client], Awaitable[T]]) -> T:
    async def main() -> T:
        async with Client(url, token=secret(TOKEN_VARIABLE) or None) as client:
            return await action(client)

    return anyio.run(main, backend="asyncio")


def _print(job: Job) -> int:
    """Print the job; 0 unless it ended without succeeding (failed, cancelled, interrupted)."""
    click.echo(msgspec.json.encode(job).decode())
    return 1 if job.finished and job.status is not JobState.SUCCEEDED else 0
