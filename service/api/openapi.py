"""``/openapi.json``: the API's OpenAPI 3.1 document, generated, never kept by hand.

Paths come from the route table (``service.api.routes``); every schema comes from a
``msgspec.Struct`` through ``msgspec.json.schema_components``: the request and response
bodies, and each kind's parameter Struct. ``POST /v1/jobs`` takes one of a request Struct per
kind, made here with ``msgspec.defstruct`` (``kind`` a literal, ``params`` that kind's Struct),
so the document says exactly which parameters go with which kind.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, Final, Literal

import msgspec

from service.api.events import EVENT_STREAM, JOB_EVENT
from service.api.models import ErrorBody, Health, JobList, SubmitRequest
from service.api.routes import JOB_ID, Body, Route
from service.api.uploads import BODY_FIELD
from service.jobs.kind import Kind
from service.jobs.model import Job

__all__ = ["openapi_document"]

_REF: Final = "#/components/schemas/{name}"
_REASONS: Final[Mapping[int, str]] = {
    200: "OK",
    201: "Created: the job succeeded",
    202: "Accepted: the job is queued",
    400: (
        "Bad request: a wrong parameter (`field` names it) or body; or, in plain text, a request "
        "the HTTP parser refused before any route ran (a request line or header past 8,190 "
        "bytes, malformed HTTP), its message naming the fault"
    ),
    401: "Unauthorized: the token is missing or wrong",
    404: "No such job",
    409: "Conflict: the job's state does not allow it",
    413: "Payload too large",
    415: "Unsupported media type",
    429: "Busy: the queue is full; see Retry-After",
    503: "Unavailable: the daemon is stopping, or its job store is locked; see Retry-After",
}
_PARSER_MEDIA_TYPE: Final = "text/plain; charset=utf-8"
"""What aiohttp's HTTP parser answers a request it cannot read, before the application runs."""
_JOB_ID: Final = {"type": "string", "pattern": f"^{JOB_ID}$"}
_PASSWORD: Final = {"type": "string", "minLength": 1}
_AUTH: Final = (
    "When the daemon has a token (FANOUT_TOKEN, or [http] token_file), every /v1 route and "
    "/metrics need `Authorization: Bearer <token>`; /healthz and /openapi.json never do."
)


def openapi_document(
    routes: Iterable[Route], kinds: Mapping[str, Kind], *, version: str
) -> dict[str, Any]:
    """The OpenAPI 3.1 document for ``routes`` serving ``kinds``."""
    requests = [_request_model(name, kind) for name, kind in kinds.items()]
    models: list[Any] = [Job, JobList, ErrorBody, Health, SubmitRequest, *requests]
    models.extend(kind.params for kind in kinds.values())
    _, components = msgspec.json.schema_components(models, ref_template=_REF)
    submit = {"oneOf": [_ref(model.__name__) for model in requests]}
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        operation = _operation(route, kinds, components, submit)
        paths.setdefault(route.path, {})[route.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": "fanout-service", "version": version, "description": _AUTH},
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


def _request_model(name: str, kind: Kind) -> type[msgspec.Struct]:
    title = "".join(part.capitalize() for part in name.split("_"))
    return msgspec.defstruct(
        f"{title}JobRequest",
        [("kind", Literal.__getitem__(name)), ("params", kind.params)],
        frozen=True,
        module=__name__,
    )


def _operation(
    route: Route, kinds: Mapping[str, Kind], components: dict[str, Any], submit: dict[str, Any]
) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": _operation_id(route),
        "summary": route.summary,
        "responses": _responses(route),
        "security": [] if route.public else [{"bearer": []}],
    }
    parameters = _parameters(route, kinds, components)
    if parameters:
        operation["parameters"] = parameters
    if route.body is not None:
        schema = submit if route.body is SubmitRequest else None
        operation["requestBody"] = {"required": True, "content": _content(route.body, schema)}
    return operation


def _responses(route: Route) -> dict[str, Any]:
    ok = {"description": _REASONS[route.status], "content": _content(route.returns)}
    responses: dict[str, Any] = {str(route.status): ok}
    if route.upload is not None:
        responses["200"] = {"description": "The job ended otherwise", "content": ok["content"]}
    for status in route.errors:
        error = _content(ErrorBody)
        if status == 400:
            error |= _content(_PARSER_MEDIA_TYPE)
        responses[str(status)] = {"description": _REASONS[status], "content": error}
    return responses


def _parameters(
    route: Route, kinds: Mapping[str, Kind], components: dict[str, Any]
) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if "{id}" in route.path:
        found.append(_parameter("id", "path", _JOB_ID, "The job's id.", True))
    for query in route.query:
        schema = msgspec.json.schema_components([query.type], ref_template=_REF)[0][0]
        found.append(_parameter(query.name, "query", schema, query.description, False))
    if route.upload is not None:
        model = kinds[route.upload].params
        properties = components[model.__name__].get("properties", {})
        for name, schema in properties.items():
            if name not in (*kinds[route.upload].secret_fields, BODY_FIELD):
                found.append(_parameter(name, "query", schema, f"See {model.__name__}.", False))
        found.append(_parameter("X-Fanout-Password", "header", _PASSWORD, "The password.", True))
    return found


def _parameter(
    name: str, where: str, schema: dict[str, Any], description: str, required: bool
) -> dict[str, Any]:
    return {
        "name": name,
        "in": where,
        "required": required,
        "description": description,
        "schema": schema,
    }


def _content(body: Body, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    if isinstance(body, tuple):
        return {media: {"schema": _schema(media)} for media in body}
    media = body if isinstance(body, str) else "application/json"
    return {media: {"schema": schema if schema is not None else _schema(body)}}


def _schema(body: type[msgspec.Struct] | str) -> dict[str, Any]:
    if body == "application/json":
        return {"type": "object"}  # a JSON document of its own (this one)
    if body == EVENT_STREAM:
        return _event_schema()
    if isinstance(body, str):
        return {"type": "string", "contentMediaType": body}
    return _ref(body.__name__)


def _event_schema() -> dict[str, Any]:
    # Before Open API 3.2 (and its `itemSchema`), an event stream's `schema` describes one
    # event: its fields, each a string; the job's JSON is the `data` of every event.
    data = {"type": "string", "contentMediaType": "application/json"}
    return {
        "type": "object",
        "properties": {
            "event": {"const": JOB_EVENT},
            "data": {**data, "contentSchema": _ref(Job.__name__)},
        },
        "required": ["event", "data"],
    }


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": _REF.format(name=name)}


def _operation_id(route: Route) -> str:
    words = re.findall(r"[A-Za-z0-9]+", route.path.replace("/v1/", "/"))
    return route.method.lower() + "".join(word.capitalize() for word in words)
