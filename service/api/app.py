"""The aiohttp application: routes from the table, middlewares, typed state; no lifecycle.

The daemon owns the job manager (opens the store, enters the manager, drains it) and the
server (``AppRunner``); ``create_app`` only wires a running manager into an application, so
tests and embedders can serve the same app around a manager they manage themselves.

Middlewares, outermost first: the request id, the request counter, the error mapper (so the
counter sees the final status of an error too), then the token check.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib.metadata import PackageNotFoundError, version
from typing import Final

import msgspec
from aiohttp import web

from service.api.auth import auth_middleware
from service.api.bodies import JSON_LIMIT
from service.api.events import HEARTBEAT_EVERY_S
from service.api.metrics import Metrics
from service.api.openapi import openapi_document
from service.api.problems import error_middleware
from service.api.routes import ROUTES
from service.api.state import HEARTBEAT_S, MANAGER, METRICS, OPENAPI, SETTINGS, JobService
from service.api.state import KINDS as KINDS_KEY
from service.api.tracing import request_id_middleware, send_request_id
from service.config import Settings
from service.jobs.kind import Kind
from service.jobs.kinds import KINDS

__all__ = ["create_app"]

_DISTRIBUTION: Final = "fanout-service"


def create_app(
    manager: JobService,
    settings: Settings,
    *,
    token: str | None,
    metrics: Metrics | None = None,
    kinds: Mapping[str, Kind] = KINDS,
    heartbeat_s: float = HEARTBEAT_EVERY_S,
) -> web.Application:
    """The API around ``manager`` (already running); ``token`` None leaves it open.

    ``metrics`` defaults to a fresh registry (it is made to watch the manager's counts);
    ``kinds`` are the kinds the manager runs (for the document and the secrets);
    ``heartbeat_s`` is the pause between comment lines on an idle event stream.
    """
    metrics = metrics if metrics is not None else Metrics()
    metrics.watch(manager.stats)
    middlewares = [request_id_middleware, metrics.middleware(), error_middleware]
    if token is not None:
        middlewares.append(auth_middleware(token))
    app = web.Application(middlewares=middlewares, client_max_size=JSON_LIMIT)
    app[MANAGER] = manager
    app[SETTINGS] = settings
    app[KINDS_KEY] = kinds
    app[METRICS] = metrics
    app[HEARTBEAT_S] = heartbeat_s
    document = openapi_document(ROUTES, kinds, version=_version())
    app[OPENAPI] = msgspec.json.encode(document)
    for route in ROUTES:
        app.router.add_route(route.method, route.pattern, route.handler)
    app.on_response_prepare.append(send_request_id)
    return app


def _version() -> str:
    try:
        return version(_DISTRIBUTION)
    except PackageNotFoundError:
        return "0+unknown"
