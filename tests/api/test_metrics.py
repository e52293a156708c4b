"""GET /metrics: Prometheus text with the job, HTTP, process and thread figures."""

from __future__ import annotations

import os
import re
import threading

import pytest

from adapters.processes import AsyncProcessPool
from service.api.metrics import Metrics, child_processes
from service.system.processes import descendants
from service.testing import serve
from tests.adapters import _workers
from tests.adapters._children import child_pids
from tests.api._http import request
from tests.fixtures import GLIDER

pytestmark = pytest.mark.anyio


def _value(text: str, sample: str) -> float:
    found = re.search(rf"^{re.escape(sample)} (\S+)$", text, re.MULTILINE)
    assert found is not None, f"{sample} not in:\n{text}"
    return float(found[1])


def test_children_are_counted_from_proc() -> None:
    assert child_processes() >= len(child_pids())
    assert child_processes() == len(descendants(os.getpid()))


async def test_worker_processes_under_the_forkserver_are_counted() -> None:
    pool = AsyncProcessPool(1, preload=("tests.adapters._workers",))
    try:
        worker, _ = await pool.run(_workers.pid_and, None)
        assert worker not in child_pids()  # the forkserver's child, not ours
        assert worker in descendants(os.getpid())
        assert child_processes() >= 2  # the forkserver and its worker
    finally:
        await pool.aclose()
    assert worker not in descendants(os.getpid())


def test_a_registry_per_instance() -> None:
    one, two = Metrics(), Metrics()
    assert one.registry is not two.registry
    assert b"fanout_threads" in one.render()


async def test_jobs_requests_and_durations_are_counted() -> None:
    async with serve() as client:
        job = await client.submit("life", {"pattern": GLIDER, "generations": 2})
        await client.wait(job.id, timeout_s=60)
        for _ in range(2):
            await request(client, "GET", "/v1/jobs/" + "0" * 26)
        reply = await request(client, "GET", "/metrics")
        assert reply.status == 200
        assert reply.headers["Content-Type"].startswith("text/plain")
        text = reply.body.decode()
    assert _value(text, 'fanout_jobs_finished_total{kind="life",state="succeeded"}') == 1
    assert _value(text, 'fanout_job_duration_seconds_count{kind="life"}') == 1
    assert _value(text, "fanout_jobs_queued") == 0
    assert _value(text, "fanout_jobs_running") == 0
    assert _value(text, "fanout_draining") == 0
    posted = 'fanout_http_requests_total{method="POST",route="/v1/jobs",status="202"}'
    assert _value(text, posted) == 1
    missing = 'fanout_http_requests_total{method="GET",route="/v1/jobs/{id}",status="404"}'
    assert _value(text, missing) == 2  # the same route, method and status again
    assert _value(text, "fanout_threads") >= 1
    assert _value(text, "fanout_threads") <= threading.active_count() + 64
    assert _value(text, "fanout_child_processes") >= 0


async def test_unknown_paths_share_one_label() -> None:
    async with serve() as client:
        for path in ("/a", "/b", "/c"):
            await request(client, "GET", path)
        text = (await request(client, "GET", "/metrics")).body.decode()
    unmatched = 'fanout_http_requests_total{method="GET",route="unmatched",status="404"}'
    assert _value(text, unmatched) == 3
