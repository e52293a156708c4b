"""The routes beside the jobs: ``/healthz``, ``/metrics`` and ``/openapi.json``."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from service.api.bodies import json_response
from service.api.models import Health
from service.api.state import MANAGER, METRICS, OPENAPI

__all__ = ["health", "metrics", "openapi"]


async def health(request: web.Request) -> web.Response:
    """``GET /healthz``: 200 while the daemon runs, saying whether it is draining."""
    draining = request.app[MANAGER].draining
    return json_response(Health("draining" if draining else "ok", draining))


async def metrics(request: web.Request) -> web.Response:
    """``GET /metrics``: the app's Prometheus registry in the text format."""
    body = request.app[METRICS].render()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def openapi(request: web.Request) -> web.Response:
    """``GET /openapi.json``: the document, built once when the app was made."""
    return web.Response(body=request.app[OPENAPI], content_type="application/json")
