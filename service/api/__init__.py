"""The HTTP API: an aiohttp application over the job manager.

The contract (DESIGN.md): ``/healthz``, ``/metrics``, ``/openapi.json`` and the ``/v1/jobs``
routes, JSON errors ``{"error": {"type", "message", "field"?}}``, an optional bearer token,
server-sent events for progress. Only this package and ``service.daemon`` import aiohttp's
server.
"""

from __future__ import annotations

from service.api.app import create_app
from service.api.auth import TOKEN_VARIABLE, load_token
from service.api.jobs import PASSWORD_HEADER
from service.api.logs import AccessLog
from service.api.metrics import Metrics
from service.api.openapi import openapi_document
from service.api.routes import ROUTES
from service.api.state import JobService

__all__ = [
    "PASSWORD_HEADER",
    "ROUTES",
    "TOKEN_VARIABLE",
    "AccessLog",
    "JobService",
    "Metrics",
    "create_app",
    "load_token",
    "openapi_document",
]
