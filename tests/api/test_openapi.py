"""service.api.openapi: an OpenAPI 3.1 document generated from the route table and Structs."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from service.api.openapi import openapi_document
from service.api.routes import ROUTES
from service.jobs.kinds import KINDS
from service.testing import serve

pytestmark = pytest.mark.anyio

DOCUMENT = openapi_document(ROUTES, KINDS, version="test")


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def test_the_document_is_openapi_3_1() -> None:
    assert DOCUMENT["openapi"] == "3.1.0"
    assert DOCUMENT["info"]["title"] == "fanout-service"
    assert DOCUMENT["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"


def test_every_route_is_a_documented_operation() -> None:
    paths = DOCUMENT["paths"]
    for route in ROUTES:
        operation = paths[route.path][route.method.lower()]
        assert str(route.status) in operation["responses"]
        assert operation["security"] == ([] if route.public else [{"bearer": []}])
    expected = {
        "/healthz", "/metrics", "/openapi.json", "/v1/jobs", "/v1/jobs/encrypt",
        "/v1/jobs/decrypt", "/v1/jobs/{id}", "/v1/jobs/{id}/cancel", "/v1/jobs/{id}/result",
        "/v1/jobs/{id}/events",
    }  # fmt: skip
    assert set(paths) == expected
    ids = [op["operationId"] for ops in paths.values() for op in ops.values()]
    assert len(ids) == len(set(ids))


def test_schemas_come_from_the_structs_and_every_ref_resolves() -> None:
    schemas = DOCUMENT["components"]["schemas"]
    for name in ("Job", "JobList", "ErrorBody", "LifeParams", "CryptoParams", "PipelineParams"):
        assert name in schemas
    assert "generations" in schemas["LifeParams"]["properties"]
    prefix = "#/components/schemas/"
    for ref in _refs(DOCUMENT):
        assert ref.startswith(prefix)
        assert ref.removeprefix(prefix) in schemas


def test_submit_takes_one_request_per_kind() -> None:
    body = DOCUMENT["paths"]["/v1/jobs"]["post"]["requestBody"]["content"]["application/json"]
    choices = [choice["$ref"].rpartition("/")[2] for choice in body["schema"]["oneOf"]]
    assert choices == [f"{name.capitalize()}JobRequest" for name in KINDS]
    life = DOCUMENT["components"]["schemas"]["LifeJobRequest"]
    assert life["properties"]["kind"] == {"enum": ["life"]}


def test_uploads_take_the_crypto_options_but_never_the_password_in_the_url() -> None:
    upload = DOCUMENT["paths"]["/v1/jobs/encrypt"]["post"]
    where = {parameter["name"]: parameter["in"] for parameter in upload["parameters"]}
    assert where == {
        "cipher": "query",
        "digest": "query",
        "iterations": "query",
        "X-Fanout-Password": "header",
    }
    assert "application/octet-stream" in upload["requestBody"]["content"]


def test_events_are_documented_one_by_one_with_the_job_as_data() -> None:
    content = DOCUMENT["paths"]["/v1/jobs/{id}/events"]["get"]["responses"]["200"]["content"]
    event = content["text/event-stream"]["schema"]
    assert event["properties"]["event"] == {"const": "job"}
    data = event["properties"]["data"]
    assert data["contentMediaType"] == "application/json"
    assert data["contentSchema"] == {"$ref": "#/components/schemas/Job"}


def test_a_result_may_have_the_media_type_of_any_kind_of_artifact() -> None:
    content = DOCUMENT["paths"]["/v1/jobs/{id}/result"]["get"]["responses"]["200"]["content"]
    assert set(content) == {
        "application/octet-stream",
        "text/plain; charset=utf-8",
        "image/png",
        "application/json",
    }


def test_parameters_say_what_the_daemon_accepts() -> None:
    listing = DOCUMENT["paths"]["/v1/jobs"]["get"]["parameters"]
    limit = next(parameter for parameter in listing if parameter["name"] == "limit")
    assert limit["schema"] == {"type": "integer", "minimum": 1, "maximum": 500}
    job = DOCUMENT["paths"]["/v1/jobs/{id}"]["get"]["parameters"][0]
    assert job["schema"] == {"type": "string", "pattern": "^[0-9a-f]+$"}
    upload = DOCUMENT["paths"]["/v1/jobs/encrypt"]["post"]["parameters"]
    password = next(parameter for parameter in upload if parameter["in"] == "header")
    assert password["schema"]["minLength"] == 1


async def test_the_daemon_serves_the_document() -> None:
    async with serve() as client:
        served = await client.openapi()
    assert served["paths"].keys() == DOCUMENT["paths"].keys()
    assert served["components"] == DOCUMENT["components"]
