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


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


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


async def test_the_daemon_serves_the_document() -> None:
    async with serve() as client:
        served = await client.openapi()
    assert served["paths"].keys() == DOCUMENT["paths"].keys()
    assert served["components"] == DOCUMENT["components"]
