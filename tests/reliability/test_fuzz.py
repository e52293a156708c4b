"""API fuzzing: schemathesis against a real ``fanout serve`` and the document it serves.

One daemon on loopback, with a token and small limits so that fuzzed jobs stay cheap (pipeline
jobs stay off: no ``[pipeline] allowed_sources``, so they are refused with 400). Every operation
of ``/openapi.json`` gets a bounded number of generated requests (coverage cases, then random
ones); then short workflows chain operations with the ids the daemon gave (submit, then read,
cancel, stream, fetch). No answer may be a 5xx, and every answer must match the document: a
declared status and content type, a body and headers its schemas allow. Auth is checked too:
each protected operation must refuse a request without the token.

The requests are generated from the document the service builds (the pytest plugin needs it
when tests are collected, before the daemon runs); the first test checks that the daemon
serves exactly that document.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Final

import msgspec
import pytest
import schemathesis
from anyio.from_thread import start_blocking_portal
from hypothesis import HealthCheck, settings

from service.api.openapi import openapi_document
from service.api.routes import ROUTES
from service.jobs.kinds import KINDS
from tests.reliability._daemon import Spawned, spawned

TOKEN: Final = "fuzz-token"
AUTH: Final = {"Authorization": f"Bearer {TOKEN}"}
VARIABLES: Final = {
    "FANOUT_TOKEN": TOKEN,
    "FANOUT_JOBS__MAX_RUNNING": "2",
    "FANOUT_JOBS__MAX_QUEUED": "16",
    "FANOUT_LIFE__MAX_CELLS": "4096",
    "FANOUT_LIFE__MAX_GENERATIONS": "16",
    "FANOUT_LIFE__MAX_THREADS": "4",
    "FANOUT_LIFE__MAX_WORKERS": "2",
    "FANOUT_CRYPTO__MAX_PAYLOAD_BYTES": "4096",
    "FANOUT_CRYPTO__PBKDF2_ITERATIONS": "1000",
    # An upload answers when its job ends: a fuzzed `iterations` near 10**8 must not hold it.
    "FANOUT_CRYPTO__TIMEOUT_S": "5",
}
# Left out: positive_data_acceptance, since the document cannot say every rule a valid request
# follows (the ciphers openssl knows, Life rule syntax, limits set in config.toml), and
# negative_data_rejection, which wants 400 where the daemon rightly answers 413.
CHECKS: Final = [
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
    "ignored_auth",
    "missing_required_header",
    "unsupported_method",
    "allow_header_conformance",
    "use_after_free",
    "ensure_resource_availability",
]
REQUEST_TIMEOUT_S: Final = 30.0
FUZZ: Final = settings(
    max_examples=30,
    deadline=None,  # each example is a request to another process: its time is not ours
    suppress_health_check=list(HealthCheck),  # slow, filtered examples are the norm here
    database=None,  # a replayed example would meet a new daemon: nothing to keep
)
WORKFLOWS: Final = settings(FUZZ, max_examples=20, stateful_step_count=6)


def _document() -> dict[str, Any]:
    # Through JSON, so that it compares equal to the served one (lists, not tuples).
    document = openapi_document(ROUTES, KINDS, version="fuzz")
    decoded: dict[str, Any] = msgspec.json.decode(msgspec.json.encode(document))
    return decoded


schema = schemathesis.openapi.from_dict(_document())
schema.config.checks.update(included_check_names=CHECKS)


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Spawned]:
    """One ``fanout serve`` for the module; leaving kills it and everything it started."""
    directory = tmp_path_factory.mktemp("fuzz")
    with (
        start_blocking_portal() as portal,
        portal.wrap_async_context_manager(spawned(directory, VARIABLES)) as served,
    ):
        yield served


def test_the_daemon_serves_the_document_being_fuzzed(daemon: Spawned) -> None:
    served = schemathesis.openapi.from_url(f"{daemon.url}/openapi.json", timeout=10)
    served.validate()  # against the OpenAPI 3.1 schema
    expected = _document()
    expected["info"]["version"] = served.raw_schema["info"]["version"]
    assert served.raw_schema == expected


@FUZZ
@schema.parametrize()
def test_every_answer_is_documented_and_none_is_a_5xx(
    case: schemathesis.Case[Any], daemon: Spawned
) -> None:
    case.call_and_validate(base_url=daemon.url, headers=AUTH, timeout=REQUEST_TIMEOUT_S)


def test_job_workflows_answer_as_documented(daemon: Spawned) -> None:
    # The machine's class is made from the document at run time: mypy cannot follow it.
    class Workflow(schema.as_state_machine()):  # type: ignore[misc]  # made from the document at run time
        def get_call_kwargs(self, case: schemathesis.Case[Any]) -> dict[str, Any]:
            return {"base_url": daemon.url, "headers": AUTH, "timeout": REQUEST_TIMEOUT_S}

    Workflow.run(settings=WORKFLOWS)
