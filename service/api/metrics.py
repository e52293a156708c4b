"""The daemon's Prometheus metrics, in a registry of its own per application.

- ``fanout_http_requests_total{route, method, status}``: every request, by route template
  (``/v1/jobs/{id}``, never the raw path, so ids do not explode the label set);
- ``fanout_jobs_queued``, ``fanout_jobs_running`` (in all), ``fanout_jobs{kind, state}``
  (queued and running, per kind), ``fanout_jobs_finished_total{kind, state}`` (since the
  daemon started) and ``fanout_draining``: read from the job manager's ``stats()`` at each
  scrape, so they can never disagree with it;
- ``fanout_job_duration_seconds{kind}``: a histogram of run times (start to end), observed as
  each job's final snapshot is stored (``service.api.metered``);
- ``fanout_child_processes`` and ``fanout_threads``: what the daemon has alive right now (the
  processes under it from ``/proc``, its threads from ``threading``), so leaks show on a graph.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from typing import Final, final

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from service.jobs.model import Job, JobState
from service.jobs.stats import JobStats
from service.system.processes import descendants

__all__ = ["Metrics", "child_processes"]

_UNMATCHED: Final = "unmatched"
# Jobs last from milliseconds (a small Life run) to the crypto time limit and beyond.
_BUCKETS: Final = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 3600)


def child_processes() -> int:
    """How many processes are under this one (its children, theirs...; zombies too), from
    ``/proc``: the job worker processes are the children of the forkserver, a child."""
    return len(descendants(os.getpid()))


@final
class Metrics:
    """The registry and the instruments the API updates; ``render()`` is the scrape."""

    __slots__ = ("_counted", "_durations", "_requests", "registry")

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._requests = Counter(
            "fanout_http_requests",
            "HTTP requests answered, by route template, method and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        # Each (route, method, status)'s child, found once: ``labels`` checks and locks on
        # every call, a few microseconds of every request.
        self._counted: dict[tuple[str, str, str], Counter] = {}
        children = Gauge(
            "fanout_child_processes",
            "Processes under the daemon alive (openssl, the forkserver, worker processes), "
            "zombies included.",
            registry=self.registry,
        )
        children.set_function(child_processes)
        threads = Gauge("fanout_threads", "Threads alive in the daemon.", registry=self.registry)
        threads.set_function(threading.active_count)
        self._durations = Histogram(
            "fanout_job_duration_seconds",
            "How long jobs ran, from start to end, by kind.",
            ["kind"],
            buckets=_BUCKETS,
            registry=self.registry,
        )

    def __repr__(self) -> str:
        return f"<Metrics registry={id(self.registry):#x}>"

    def render(self) -> bytes:
        """The registry in Prometheus' text format."""
        return generate_latest(self.registry)

    def watch(self, stats: Callable[[], JobStats]) -> None:
        """Read the job gauges and counters from ``stats`` (the manager's) at each scrape."""
        self.registry.register(_JobCollector(stats))

    def observe(self, job: Job) -> None:
        """Count a job's run time, once, when its final snapshot is stored."""
        if job.finished and job.started_at is not None and job.finished_at is not None:
            took = max(0.0, job.finished_at - job.started_at)
            self._durations.labels(job.kind).observe(took)

    def middleware(self) -> Middleware:
        """A middleware counting every request by route, method and final status."""

        @web.middleware
        async def count(request: web.Request, handler: Handler) -> web.StreamResponse:
            status = 500
            try:
                response = await handler(request)
                status = response.status
                return response
            except web.HTTPException as exc:
                status = exc.status
                raise
            finally:
                key = (_route(request), request.method, str(status))
                counter = self._counted.get(key)
                if counter is None:
                    counter = self._counted[key] = self._requests.labels(*key)
                counter.inc()

        return count


def _route(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else _UNMATCHED


@final
class _JobCollector(Collector):
    """The manager's counts, as metric families made afresh at each scrape."""

    __slots__ = ("_stats",)

    def __init__(self, stats: Callable[[], JobStats]) -> None:
        self._stats = stats

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        stats = self._stats()
        yield GaugeMetricFamily("fanout_jobs_queued", "Jobs waiting for a slot.", stats.queued)
        yield GaugeMetricFamily("fanout_jobs_running", "Jobs running now.", stats.running)
        yield GaugeMetricFamily(
            "fanout_draining", "1 while the daemon is stopping.", int(stats.draining)
        )
        active = GaugeMetricFamily(
            "fanout_jobs", "Jobs queued or running, by kind and state.", labels=["kind", "state"]
        )
        for state, counts in (
            (JobState.QUEUED, stats.queued_by_kind),
            (JobState.RUNNING, stats.running_by_kind),
        ):
            for kind, count in sorted(counts.items()):
                active.add_metric([kind, state.value], count)
        yield active
        finished = CounterMetricFamily(
            "fanout_jobs_finished",
            "Jobs ended since the daemon started, by kind and final state.",
            labels=["kind", "state"],
        )
        for (kind, state), count in sorted(stats.finished.items()):
            finished.add_metric([kind, str(state)], count)
        yield finished
