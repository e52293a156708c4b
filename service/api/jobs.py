"""The JSON job routes: submit, list, get, cancel, and the result file.

Handlers only translate: HTTP in, a call to the job manager, HTTP out. Every rule about jobs
(limits, states, what may be cancelled) lives in the manager and the kinds.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from aiohttp import web

from service.api.bodies import json_response, query_value, read_json
from service.api.logs import note_job
from service.api.models import JobList, SubmitRequest
from service.api.state import KINDS, MANAGER
from service.crypto import BadPassword, Password
from service.errors import BadParam
from service.jobs.kind import Kind
from service.jobs.model import Job, JobState

__all__ = ["PASSWORD_HEADER", "cancel_job", "get_job", "job_result", "list_jobs", "submit_job"]

PASSWORD_HEADER: Final = "X-Fanout-Password"
_SUBMIT: Final = '{"kind": "life"|"encrypt"|"decrypt"|"pipeline", "params": {...}}'


async def submit_job(request: web.Request) -> web.Response:
    """``POST /v1/jobs`` → 202 with the queued job and its ``Location``."""
    body = await read_json(request, SubmitRequest, what=f"a JSON object {_SUBMIT}")
    kind = _kind(request.app[KINDS], body.kind)
    params = dict(body.params)
    secret = take_secret(kind, params, request.headers.get(PASSWORD_HEADER))
    job = await request.app[MANAGER].submit(body.kind, params, secret=secret)
    note_job(request, job)
    return json_response(job, status=202, headers={"Location": job_location(job)})


async def list_jobs(request: web.Request) -> web.Response:
    """``GET /v1/jobs?status=&kind=&limit=&cursor=`` → ``{"jobs": [...], "next": ...}``.

    The manager checks ``limit``'s range and the cursor's shape (BadParam naming them)."""
    query = request.query
    status = _status(query["status"]) if "status" in query else None
    kind = query.get("kind") or None
    if kind is not None:
        _kind(request.app[KINDS], kind, field="kind")
    limit = query_value(query, "limit", int) if "limit" in query else 50
    jobs, following = await request.app[MANAGER].list(
        status=status, kind=kind, limit=limit, cursor=query.get("cursor") or None
    )
    return json_response(JobList(jobs, following))


async def get_job(request: web.Request) -> web.Response:
    """``GET /v1/jobs/{id}`` → the job."""
    return json_response(await request.app[MANAGER].get(request.match_info["id"]))


async def cancel_job(request: web.Request) -> web.Response:
    """``POST /v1/jobs/{id}/cancel`` → the job as cancelled (409 when it had already ended)."""
    job = await request.app[MANAGER].cancel(request.match_info["id"])
    note_job(request, job)
    return json_response(job)


async def job_result(request: web.Request) -> web.FileResponse:
    """``GET /v1/jobs/{id}/result`` → the artifact file, streamed (409 until the job ends)."""
    path, media_type = await request.app[MANAGER].artifact(request.match_info["id"])
    return web.FileResponse(
        path,
        headers={
            "Content-Type": media_type,
            "Content-Disposition": f'attachment; filename="{path.name}"',
        },
    )


def job_location(job: Job) -> str:
    return f"/v1/jobs/{job.id}"


def take_secret(kind: Kind, params: dict[str, Any], header: str | None) -> Password | None:
    """The job's secret, taken out of ``params`` (or from the header) and made a ``Password``
    at once; BadParam if misplaced, or one openssl cannot take."""
    names = kind.secret_fields
    given = {name: params.pop(name) for name in names if name in params}
    if header is not None:
        if not names:
            raise BadParam(f"a {kind.name} job takes no password", field=PASSWORD_HEADER)
        if given:
            raise BadParam(
                f"give the password in params.{names[0]} or in {PASSWORD_HEADER}, not both",
                field=f"params.{names[0]}",
            )
        if not header:
            raise BadParam(f"the {PASSWORD_HEADER} header is empty", field=PASSWORD_HEADER)
        return _password(header, PASSWORD_HEADER)
    for name, value in given.items():
        if not isinstance(value, str) or not value:
            raise BadParam(f"params.{name} must be a non-empty string", field=f"params.{name}")
        return _password(value, f"params.{name}")
    if names:
        raise BadParam(
            f"the {kind.name} job needs a password: give params.{names[0]} or the "
            f"{PASSWORD_HEADER} header",
            field=f"params.{names[0]}",
        )
    return None


def _password(text: str, field: str) -> Password:
    try:
        return Password(text)
    except BadPassword as exc:
        raise BadParam(f"{field}: {exc}", field=field) from exc


def _status(text: str) -> JobState:
    try:
        return JobState(text)
    except ValueError:
        allowed = ", ".join(JobState)
        raise BadParam(f"status={text!r}: choose one of {allowed}", field="status") from None


def _kind(kinds: Mapping[str, Kind], name: str, *, field: str = "kind") -> Kind:
    if name not in kinds:
        raise BadParam(f"unknown kind {name!r}: choose one of {', '.join(kinds)}", field=field)
    return kinds[name]
