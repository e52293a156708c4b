"""The route table: the one list both the router and ``/openapi.json`` are built from.

Each :class:`Route` names its handler and what it takes and returns (Structs or media types),
so a route cannot be served without being documented, nor documented without being served.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Final, final

import msgspec
from aiohttp import web

from service.api.events import EVENT_STREAM, job_events
from service.api.jobs import cancel_job, get_job, job_result, list_jobs, submit_job
from service.api.models import Health, JobList, SubmitRequest
from service.api.system import health, metrics, openapi
from service.api.uploads import upload_handler
from service.jobs.kinds import crypto, life, pipeline
from service.jobs.manager import MAX_PAGE
from service.jobs.model import Job, JobState

__all__ = ["ARTIFACT_TYPES", "JOB_ID", "ROUTES", "Body", "Query", "Route"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
JOB_ID: Final = "[0-9a-f]+"
"""What a job id is made of (``service.jobs.model.new_job_id``), as a regular expression."""
Body = type[msgspec.Struct] | str | tuple[str, ...]
"""A JSON body's Struct, the media type of a body that is not JSON, or the media types it may
have (one of them)."""


@final
@dataclass(frozen=True, slots=True)
class Query:
    """A query parameter: its name, the type its value converts to, what it does."""

    name: str
    type: object
    description: str


@final
@dataclass(frozen=True, slots=True)
class Route:
    """One method on one path: its handler, and what the document says about it."""

    method: str
    path: str
    handler: Handler
    summary: str
    status: int
    returns: Body
    body: Body | None = None
    query: tuple[Query, ...] = ()
    upload: str | None = None
    """For a raw upload: the kind whose parameter Struct gives the query parameters."""
    errors: tuple[int, ...] = ()
    public: bool = False
    """Served without the token."""

    @property
    def pattern(self) -> str:
        """The path for the router: ``{id}`` matches a job id only, so that ``/v1/jobs/encrypt``
        is never taken for one (``GET`` on it is then 405, with ``Allow: POST``)."""
        return self.path.replace("{id}", "{id:" + JOB_ID + "}")


_JOB_ERRORS: Final = (401, 404)
ARTIFACT_TYPES: Final = (
    crypto.MEDIA_TYPE,
    life.RLE_MEDIA_TYPE,
    life.PNG_MEDIA_TYPE,
    pipeline.MEDIA_TYPE,
)
"""The media types of the kinds' artifacts: what ``GET /v1/jobs/{id}/result`` may send."""
ROUTES: Final[tuple[Route, ...]] = (
    Route("GET", "/healthz", health, "Liveness: the daemon is up.", 200, Health, public=True),
    Route("GET", "/metrics", metrics, "Prometheus metrics.", 200, "text/plain", errors=(401,)),
    Route("GET", "/openapi.json", openapi, "This document.", 200, "application/json", public=True),
    Route(
        "POST",
        "/v1/jobs",
        submit_job,
        "Submit a job; it is queued. Location names it.",
        202,
        Job,
        body=SubmitRequest,
        errors=(400, 401, 413, 415, 429, 503),
    ),
    Route(
        "GET",
        "/v1/jobs",
        list_jobs,
        "List jobs, newest first; pass `next` back as `cursor` for the following page.",
        200,
        JobList,
        query=(
            Query("status", JobState, "Only jobs in this state."),
            Query("kind", str, "Only jobs of this kind."),
            Query(
                "limit",
                Annotated[int, msgspec.Meta(ge=1, le=MAX_PAGE)],
                "Jobs per page (default 50).",
            ),
            Query("cursor", str, "The `next` of the previous page."),
        ),
        errors=(400, 401),
    ),
    *(
        Route(
            "POST",
            f"/v1/jobs/{kind}",
            upload_handler(kind),
            f"Stream a body to {kind}; the finished job (201 succeeded, 200 otherwise).",
            201,
            Job,
            body="application/octet-stream",
            upload=kind,
            errors=(400, 401, 413, 415, 429, 503),
        )
        for kind in ("encrypt", "decrypt")
    ),
    Route("GET", "/v1/jobs/{id}", get_job, "A job.", 200, Job, errors=_JOB_ERRORS),
    Route(
        "POST",
        "/v1/jobs/{id}/cancel",
        cancel_job,
        "Cancel a queued or running job (409 once it has ended).",
        200,
        Job,
        errors=(*_JOB_ERRORS, 409),
    ),
    Route(
        "GET",
        "/v1/jobs/{id}/result",
        job_result,
        "The job's artifact: RLE, ciphertext, plaintext or manifest (409 until it has ended).",
        200,
        ARTIFACT_TYPES,
        errors=(*_JOB_ERRORS, 409),
    ),
    Route(
        "GET",
        "/v1/jobs/{id}/events",
        job_events,
        "Server-sent events: `event: job` with the job's JSON, until it ends.",
        200,
        EVENT_STREAM,
        errors=_JOB_ERRORS,
    ),
)
