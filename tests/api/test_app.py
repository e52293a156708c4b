"""service.api: routes, the JSON error body of every refusal, request ids, paging.

Every test runs the real daemon (``service.testing.serve``) on 127.0.0.1 and talks HTTP to it.
"""

from __future__ import annotations

import io
from typing import Any, Final

import pytest

from service.api.bodies import JSON_LIMIT
from service.testing import serve
from tests.api._http import request
from tests.fixtures import GLIDER

pytestmark = pytest.mark.anyio

LIFE: Final[dict[str, Any]] = {"kind": "life", "params": {"pattern": GLIDER, "generations": 2}}


async def test_healthz_and_request_ids() -> None:
    async with serve() as client:
        made = await request(client, "GET", "/healthz")
        assert made.status == 200
        assert made.json() == {"status": "ok", "draining": False}
        assert len(made.headers["X-Request-Id"]) == 32
        given = await request(client, "GET", "/healthz", headers={"X-Request-Id": "abc-123"})
        assert given.headers["X-Request-Id"] == "abc-123"
        odd = await request(client, "GET", "/healthz", headers={"X-Request-Id": "a b\tc"})
        assert odd.headers["X-Request-Id"] != "a b\tc"


async def test_every_kind_of_answer_sends_the_request_id_back() -> None:
    # JSON, an error, a refusal of the token, a file, a stream and the metrics text: the
    # stream sends its headers from the handler, the rest from the middleware.
    async with serve(token="t0ken") as client:
        auth = {"Authorization": "Bearer t0ken"}
        job = await client.wait((await client.submit("life", LIFE["params"])).id)
        paths = [
            ("POST", "/v1/jobs", {"json": LIFE}, 202),
            ("GET", f"/v1/jobs/{job.id}", {}, 200),
            ("GET", f"/v1/jobs/{job.id}/result", {}, 200),
            ("GET", f"/v1/jobs/{job.id}/events", {}, 200),
            ("POST", f"/v1/jobs/{job.id}/cancel", {}, 409),
            ("GET", "/v2/nothing", {}, 404),
            ("GET", "/metrics", {}, 200),
            ("GET", "/openapi.json", {}, 200),
        ]
        for number, (method, path, options, status) in enumerate(paths):
            given = {"X-Request-Id": f"r-{number}", **auth}
            reply = await request(client, method, path, headers=given, **options)
            assert (path, reply.status) == (path, status)
            assert reply.headers["X-Request-Id"] == f"r-{number}", path
        refused = await request(client, "GET", "/v1/jobs", headers={"X-Request-Id": "r-x"})
        assert refused.status == 401
        assert refused.headers["X-Request-Id"] == "r-x"


async def test_submit_answers_202_with_location() -> None:
    async with serve() as client:
        reply = await request(client, "POST", "/v1/jobs", json=LIFE)
        assert reply.status == 202
        job = reply.job()
        assert reply.headers["Location"] == f"/v1/jobs/{job.id}"
        fetched = await request(client, "GET", reply.headers["Location"])
        assert fetched.status == 200
        assert fetched.job().id == job.id


async def test_unknown_routes_and_methods() -> None:
    async with serve() as client:
        missing = await request(client, "GET", "/v2/nothing")
        assert missing.status == 404
        assert missing.error()["type"] == "NotFound"
        wrong = await request(client, "DELETE", "/v1/jobs")
        assert wrong.status == 405
        assert wrong.error()["type"] == "MethodNotAllowed"
        assert set(wrong.headers["Allow"].split(",")) == {"GET", "POST"}
        # An upload's path is no job id: it allows POST alone.
        upload = await request(client, "GET", "/v1/jobs/encrypt")
        assert upload.status == 405
        assert upload.headers["Allow"] == "POST"


async def test_unknown_job_is_404() -> None:
    async with serve() as client:
        for job_id in ("0" * 26, "not-an-id"):
            for suffix in ("", "/result", "/events"):
                reply = await request(client, "GET", f"/v1/jobs/{job_id}{suffix}")
                assert reply.status == 404, suffix
                assert reply.error()["type"] == "NotFound"
            cancel = await request(client, "POST", f"/v1/jobs/{job_id}/cancel")
            assert cancel.status == 404


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b'{"kind": "life", ', "malformed JSON"),
        (b"[1, 2]", "got a JSON array"),
        (b'"life"', "got a JSON str"),
    ],
)
async def test_bodies_that_are_not_a_json_object(body: bytes, says: str) -> None:
    async with serve() as client:
        headers = {"Content-Type": "application/json"}
        reply = await request(client, "POST", "/v1/jobs", data=body, headers=headers)
        assert reply.status == 400
        assert says in reply.error()["message"]
        assert reply.error()["type"] == "InvalidInput"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"params": {}}, "kind"),
        ({"kind": 3}, "kind"),
        ({"kind": "chess"}, "kind"),
        ({"kind": "life", "params": []}, "params"),
        ({"kind": "life", "params": {}, "extra": 1}, "extra"),
        ({"kind": "life", "params": {"pattern": GLIDER, "generations": -1}}, "params.generations"),
        ({"kind": "life", "params": {"pattern": GLIDER, "bogus": 1}}, "params.bogus"),
        ({"kind": "life", "params": {"pattern": GLIDER, "rule": "B9/S"}}, "params.rule"),
        ({"kind": "encrypt", "params": {"data": "aGk="}}, "params.password"),
        ({"kind": "encrypt", "params": {"data": "aGk=", "password": 7}}, "params.password"),
    ],
)
async def test_bad_parameters_name_their_field(body: dict[str, Any], field: str) -> None:
    async with serve() as client:
        reply = await request(client, "POST", "/v1/jobs", json=body)
        assert reply.status == 400, reply.body
        assert reply.error()["field"] == field, reply.error()


async def test_a_password_in_params_and_header_at_once_is_refused() -> None:
    async with serve() as client:
        body = {"kind": "encrypt", "params": {"data": "aGk=", "password": "a"}}
        headers = {"X-Fanout-Password": "b"}
        reply = await request(client, "POST", "/v1/jobs", json=body, headers=headers)
        assert reply.status == 400
        assert reply.error()["field"] == "params.password"
        life = await request(client, "POST", "/v1/jobs", json=LIFE, headers=headers)
        assert life.status == 400
        assert life.error()["field"] == "X-Fanout-Password"


async def test_content_types_and_missing_bodies() -> None:
    async with serve() as client:
        text = await request(
            client, "POST", "/v1/jobs", data=b"{}", headers={"Content-Type": "text/plain"}
        )
        assert text.status == 415
        assert text.error()["type"] == "UnsupportedMediaType"
        assert "application/json" in text.error()["message"]
        empty = await request(client, "POST", "/v1/jobs")
        assert empty.status == 400
        assert "no body" in empty.error()["message"]


async def test_a_json_body_of_exactly_the_limit_is_read() -> None:
    async with serve() as client:
        head, tail = b'{"kind": "life", "params": {"pattern": "', b'"}}'
        whole = head + b"b" * (JSON_LIMIT - len(head) - len(tail)) + tail
        assert len(whole) == JSON_LIMIT
        headers = {"Content-Type": "application/json"}
        reply = await request(client, "POST", "/v1/jobs", data=io.BytesIO(whole), headers=headers)
        # Read and judged by the Life limits, not refused for its size.
        assert reply.status == 400, reply.body
        assert reply.error()["field"] == "params.pattern"


async def test_a_json_body_past_the_limit_is_413() -> None:
    async with serve() as client:
        huge = b'{"kind": "life", "params": {"pattern": "' + b"b" * JSON_LIMIT + b'"}}'
        headers = {"Content-Type": "application/json"}
        reply = await request(client, "POST", "/v1/jobs", data=io.BytesIO(huge), headers=headers)
        assert reply.status == 413
        assert reply.error()["type"] == "PayloadTooLarge"


async def test_list_filters_and_pages() -> None:
    async with serve() as client:
        ids = [(await request(client, "POST", "/v1/jobs", json=LIFE)).job().id for _ in range(3)]
        for job_id in ids:
            await client.wait(job_id, timeout_s=60)
        first = await request(client, "GET", "/v1/jobs", params={"limit": "2"})
        assert first.status == 200
        page = first.json()
        assert [job["id"] for job in page["jobs"]] == ids[::-1][:2]
        second = await request(
            client, "GET", "/v1/jobs", params={"limit": "2", "cursor": page["next"]}
        )
        assert [job["id"] for job in second.json()["jobs"]] == ids[:1]
        assert second.json()["next"] is None
        done = await request(client, "GET", "/v1/jobs", params={"status": "succeeded"})
        assert len(done.json()["jobs"]) == 3
        none = await request(client, "GET", "/v1/jobs", params={"kind": "pipeline"})
        assert none.json() == {"jobs": [], "next": None}


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"status": "sleeping"}, "status"),
        ({"kind": "chess"}, "kind"),
        ({"limit": "many"}, "limit"),
        ({"limit": "0"}, "limit"),
        ({"cursor": "../../etc"}, "cursor"),
    ],
)
async def test_list_refuses_bad_queries(query: dict[str, str], field: str) -> None:
    async with serve() as client:
        reply = await request(client, "GET", "/v1/jobs", params=query)
        assert reply.status == 400
        assert reply.error()["field"] == field
