"""The bodies the HTTP API reads and writes, as ``msgspec.Struct`` types.

They are decoded and encoded with msgspec, and ``/openapi.json`` is generated from them (and
from the kinds' parameter Structs), so the document can never drift from the code.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from service.jobs.model import Job

__all__ = ["ErrorBody", "ErrorDetail", "Health", "JobList", "SubmitRequest"]


class SubmitRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The body of ``POST /v1/jobs``: a kind and its parameters.

    For ``encrypt`` and ``decrypt`` the password may come as ``params.password`` (it is taken
    out before the job is stored) or in the ``X-Fanout-Password`` header.
    """

    kind: str
    params: dict[str, Any] = {}


class JobList(msgspec.Struct, frozen=True):
    """One page of ``GET /v1/jobs``; ``next`` is the cursor of the following page, or null."""

    jobs: list[Job]
    next: str | None = None


class ErrorDetail(msgspec.Struct, frozen=True, omit_defaults=True):
    """What went wrong: the error's type (a ``service.errors`` class name), a message saying
    what was wrong and what is allowed, and, for a bad parameter, the field it names."""

    type: str
    message: str
    field: str | None = None


class ErrorBody(msgspec.Struct, frozen=True):
    """Every error response: ``{"error": {"type", "message", "field"?}}``."""

    error: ErrorDetail


class Health(msgspec.Struct, frozen=True):
    """``GET /healthz``: the daemon is up; ``draining`` once it has begun to stop."""

    status: Literal["ok", "draining"]
    draining: bool
