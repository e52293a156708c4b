"""The ``pipeline`` job: download images, resize them, deliver them to a configured destination.

A job names its destination (a key of ``[pipeline.destinations]``), never a path or a URL of
its own, and its sources must sit under ``[pipeline] allowed_sources`` (see
:mod:`._sources`). It runs :func:`~service.pipeline.images.run_images` with the daemon's
stance on the network: local files off whatever ``allow_files`` says, private addresses as
``allow_private`` says and, unless ``allow_hosts`` names hosts, requests (redirects included)
kept to the hosts of the allowed prefixes and of the destination.

Progress counts items done (delivered or failed) of the sources. The result has the counts
and every item's outcome; the artifact is the manifest as JSON (``application/json``).
There is no job-wide time limit: each stage call has ``[pipeline] stage_timeout_s``.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any, ClassVar, Final, final

import anyio
import msgspec

from service.config import PipelineSettings, Settings
from service.errors import BadParam, ConfigError
from service.jobs.artifacts import write_artifact
from service.jobs.kind import JobContext, Outcome
from service.jobs.kinds._sources import allowed_prefixes, check_source, host_of
from service.jobs.kinds._support import expect
from service.pipeline import FORMATS, MODES, Box, Manifest, Progress, StageCounts
from service.pipeline.destination import Destination
from service.pipeline.images import ImageJob, item_summary, run_images

__all__ = ["MAX_SOURCES", "MAX_SOURCE_CHARS", "MEDIA_TYPE", "PipelineKind", "PipelineParams"]

MAX_SOURCES: Final = 10_000
MAX_SOURCE_CHARS: Final = 16_384
"""Far longer than any URL a server accepts: a longer one is a mistake, refused up front."""
MEDIA_TYPE: Final = "application/json"
_WEB: Final = ("http://", "https://")

_Source = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_SOURCE_CHARS)]


class PipelineParams(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """A pipeline job: image URLs, the destination's name, and what to make of each image."""

    sources: Annotated[
        list[_Source],
        msgspec.Meta(min_length=1, max_length=MAX_SOURCES, description="http(s) image URLs"),
    ]
    destination: Annotated[str, msgspec.Meta(description="a name in [pipeline.destinations]")]
    size: Annotated[str | None, msgspec.Meta(description="WxH; default: [pipeline]")] = None
    mode: Annotated[str | None, msgspec.Meta(description=", ".join(MODES))] = None
    format: Annotated[str | None, msgspec.Meta(description=", ".join(FORMATS))] = None
    quality: Annotated[int, msgspec.Meta(ge=1, le=100)] | None = None


@final
class PipelineKind:
    """Images downloaded, resized and delivered by the staged pipeline."""

    name: ClassVar[str] = "pipeline"
    params: ClassVar[type[msgspec.Struct]] = PipelineParams
    secret_fields: ClassVar[tuple[str, ...]] = ()
    payload_fields: ClassVar[tuple[str, ...]] = ()

    def check(self, params: msgspec.Struct, settings: Settings) -> None:
        """BadParam on the first source, destination or image option a job may not have."""
        job, pipeline = expect(params, PipelineParams), settings.pipeline
        if not 1 <= len(job.sources) <= MAX_SOURCES:
            raise BadParam(
                f"params.sources has {len(job.sources)} URLs: give 1 to {MAX_SOURCES:_}",
                field="params.sources",
            )
        prefixes = allowed_prefixes(pipeline.allowed_sources)
        if not prefixes:
            raise BadParam(
                "params.sources: pipeline jobs over HTTP are off: [pipeline] allowed_sources "
                "names no URL prefix sources may start with",
                field="params.sources",
            )
        for index, source in enumerate(job.sources):
            check_source(index, source, prefixes)
        _destination_entry(job.destination, pipeline)
        _image_job(job, pipeline)

    async def admit(self, params: msgspec.Struct, settings: Settings) -> None:
        """Nothing more to judge before running: :meth:`check` has read every source,
        the destination and the image options; what a source's host resolves to is judged
        on each connection, since it may change before the download."""

    def timeout_s(self, settings: Settings) -> float | None:
        """None: every stage call has its own limit, ``[pipeline] stage_timeout_s``."""
        return None

    def max_running(self, settings: Settings) -> int:
        """``[jobs] max_running_pipeline``."""
        return settings.jobs.max_running_pipeline

    async def run(self, params: msgspec.Struct, context: JobContext) -> Outcome:
        # Checked again with the settings it runs under: a queued job outlives a restart, and
        # the allowed sources or destinations may have changed since it was submitted.
        self.check(params, context.settings)
        job, pipeline = expect(params, PipelineParams), context.settings.pipeline
        destination = await _destination(job.destination, pipeline)
        total = len(job.sources)
        context.progress(0, total)
        started = time.perf_counter()
        manifest = await run_images(
            job.sources,
            destination,
            _image_job(job, pipeline),
            settings=_network(pipeline, destination),
            crypto=context.settings.crypto,
            progress=_progress(context, total),
        )
        items = [_shown(item_summary(outcome)) for outcome in manifest.outcomes]
        counts = _counts(job.destination, manifest, time.perf_counter() - started)
        document = {**counts, "peak_in_flight": manifest.peak_in_flight, "bound": manifest.bound}
        path = context.artifact_path(".json")
        await write_artifact(path, msgspec.json.encode({**document, "items": items}))
        failure = None
        if manifest.failed:
            failure = (
                f"{manifest.failed} of {total} items failed (the manifest names each one's "
                f"stage and reason); {manifest.succeeded} delivered to {job.destination!r}"
            )
        return Outcome({**counts, "items": items}, path, MEDIA_TYPE, failure=failure)


def _shown(item: dict[str, Any]) -> dict[str, Any]:
    """An item as a client sees it: where it went by its name in the destination, which the
    job names, never a path on the daemon's disk or the operator's upload URL."""
    return {key: value for key, value in item.items() if key != "dest"}


def _destination_entry(name: str, pipeline: PipelineSettings) -> str:
    where = pipeline.destinations.get(name)
    if where is None:
        names = ", ".join(map(repr, sorted(pipeline.destinations)))
        hint = f"choose one of {names}" if names else "none is configured ([pipeline.destinations])"
        raise BadParam(
            f"params.destination = {name!r}: no such destination: {hint}",
            field="params.destination",
        )
    if "://" in where and not where.startswith(_WEB):
        raise ConfigError(
            f"[pipeline.destinations] {name} = {where!r}: must be a directory or an http(s) "
            "base URL"
        )
    return where


async def _destination(name: str, pipeline: PipelineSettings) -> Destination:
    where = _destination_entry(name, pipeline)
    if where.startswith(_WEB):
        return Destination(url=where.rstrip("/") + "/")
    if not await anyio.Path(where).is_dir():
        raise ConfigError(
            f"[pipeline.destinations] {name} = {where!r}: no such directory: create it, or "
            "change the entry"
        )
    return Destination(directory=Path(where))


def _image_job(job: PipelineParams, pipeline: PipelineSettings) -> ImageJob:
    """The job's image options over the ``[pipeline]`` defaults; BadParam for a wrong one."""
    try:
        box = Box.parse(job.size or pipeline.size)
    except ValueError as exc:
        if job.size is None:
            raise ConfigError(f"[pipeline] size: {exc}") from exc
        raise BadParam(f"params.size: {exc}", field="params.size") from exc
    for field, value, allowed in (("mode", job.mode, MODES), ("format", job.format, FORMATS)):
        if value is not None and value not in allowed:
            raise BadParam(
                f"params.{field} = {value!r}: choose one of {', '.join(allowed)}",
                field=f"params.{field}",
            )
    if job.quality is not None and not 1 <= job.quality <= 100:
        raise BadParam(f"params.quality = {job.quality}: must be 1 to 100", field="params.quality")
    return ImageJob(
        box,
        mode=job.mode or pipeline.mode,
        format=job.format or pipeline.format,
        quality=pipeline.quality if job.quality is None else job.quality,
    )


def _network(pipeline: PipelineSettings, destination: Destination) -> PipelineSettings:
    """The settings a job runs with: no local files, and its hosts unless the operator's."""
    hosts = pipeline.allow_hosts
    if not hosts.strip():
        named = {host_of(prefix) for prefix in allowed_prefixes(pipeline.allowed_sources)}
        if destination.url is not None:
            named.add(host_of(destination.url))
        hosts = ",".join(sorted(named))
    return replace(pipeline, allow_files=False, allow_hosts=hosts)


def _progress(context: JobContext, total: int) -> Progress:
    def report(counts: tuple[StageCounts, ...]) -> None:
        # An item is done when a stage fails it for good, or the last stage passes it.
        done = sum(stage.failed for stage in counts) + (counts[-1].passed if counts else 0)
        context.progress(done, total)

    return report


def _counts(destination: str, manifest: Manifest, elapsed_s: float) -> dict[str, Any]:
    return {
        "destination": destination,
        "total": len(manifest.outcomes),
        "succeeded": manifest.succeeded,
        "failed": manifest.failed,
        "elapsed_s": round(elapsed_s, 3),
    }
