"""The image pipeline: download -> resize -> (encrypt) -> upload, on either engine.

Downloads and uploads are coroutines on one aiohttp session (``adapters.http_io``); resizing
is Pillow on threads (it releases the GIL) or processes (``adapters.imaging``); encryption,
when asked for, streams each image through the crypto workload's openssl chain. The manifest
lists, per source, where it went and its size, or the stage and reason it failed.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterable, Iterable
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any, Literal, final

from adapters.http_io import HttpClient, Policy
from adapters.imaging import Box, resize
from adapters.openssl import Password
from service.config import CryptoSettings, PipelineSettings
from service.crypto import encrypt
from service.pipeline.destination import Destination, safe_name
from service.pipeline.engine import run_pipeline
from service.pipeline.manifest import Manifest, Outcome, Progress
from service.pipeline.retry import Retry
from service.pipeline.stage import Runner, Stage
from service.pipeline.threaded import run_pipeline_threads

__all__ = ["Delivered", "ImageJob", "cpu_workers", "item_summary", "run_images"]


@final
@dataclass(frozen=True, slots=True)
class ImageJob:
    """What to make of every image, and how many workers each stage gets."""

    box: Box
    mode: str = "fit"
    format: str = "webp"
    quality: int = 82
    workers: dict[str, int] = field(default_factory=dict)
    password: Password | None = None


@final
@dataclass(frozen=True, slots=True)
class _Carried:
    """What travels between stages: the source, the current bytes, and what is known of them."""

    source: str
    data: bytes
    width: int = 0
    height: int = 0


@final
@dataclass(frozen=True, slots=True)
class Delivered:
    """An item's result in the manifest: where it went (its full path or URL, and its name
    there), its size in pixels and bytes."""

    dest: str
    name: str
    width: int
    height: int
    bytes: int


def item_summary(outcome: Outcome) -> dict[str, Any]:
    """One item of a manifest as JSON: where it went and its size, or where and why it failed."""
    delivered = outcome.result if isinstance(outcome.result, Delivered) else None
    return {
        "source": outcome.source,
        "dest": delivered.dest if delivered else None,
        "name": delivered.name if delivered else None,
        "width": delivered.width if delivered else None,
        "height": delivered.height if delivered else None,
        "bytes": delivered.bytes if delivered else None,
        "attempts": dict(outcome.attempts),
        "stage": outcome.stage,
        "error": outcome.error,
    }


async def run_images(
    sources: Iterable[str] | AsyncIterable[str],
    destination: Destination,
    job: ImageJob,
    *,
    settings: PipelineSettings,
    crypto: CryptoSettings | None = None,
    engine: Literal["async", "threads"] = "async",
    progress: Progress | None = None,
) -> Manifest:
    """Run the image pipeline over ``sources`` (URLs or, if allowed, paths)."""
    policy = _policy(settings, _workers(settings, job))
    async with HttpClient(policy) as client:
        stages = _stages(client, destination, job, settings, crypto or CryptoSettings())
        run = run_pipeline if engine == "async" else run_pipeline_threads
        return await run(stages, sources, buffer=settings.buffer, progress=progress)


def cpu_workers(settings: PipelineSettings) -> int:
    """Resize (and encrypt) workers: ``resize_workers``, where 0 means one more than the cores.

    Pillow releases the GIL while it decodes, resamples and encodes, but takes it back between
    those steps, and the event loop wants it too: with only one worker per core, a core sits
    idle whenever its worker waits for the GIL.
    """
    return settings.resize_workers or (os.cpu_count() or 1) + 1


def _workers(settings: PipelineSettings, job: ImageJob) -> dict[str, int]:
    """Workers per stage: the settings', with the job's own counts over them."""
    cpu = cpu_workers(settings)
    return {
        "download": settings.download_workers,
        "resize": cpu,
        "encrypt": cpu,
        "upload": settings.upload_workers,
        **job.workers,
    }


def _policy(settings: PipelineSettings, workers: dict[str, int]) -> Policy:
    hosts = frozenset(h.strip().lower() for h in settings.allow_hosts.split(",") if h.strip())
    return Policy(
        allow_hosts=hosts,
        allow_private=settings.allow_private,
        allow_files=settings.allow_files,
        max_bytes=settings.max_download_bytes,
        max_redirects=settings.max_redirects,
        connect_timeout_s=settings.connect_timeout_s,
        read_timeout_s=settings.read_timeout_s,
        # One connection per download or upload worker, even when the sources and the
        # destination are one host: a worker never waits for a socket.
        connections=workers["download"] + workers["upload"],
        connections_per_host=workers["download"] + workers["upload"],
    )


def _stages(
    client: HttpClient,
    destination: Destination,
    job: ImageJob,
    settings: PipelineSettings,
    crypto: CryptoSettings,
) -> list[Stage]:
    retry = Retry(settings.attempts, settings.backoff_base_s, settings.backoff_max_s)
    timeout = settings.stage_timeout_s
    workers = _workers(settings, job)
    extension = job.format + (".enc" if job.password is not None else "")
    cpu: Runner = "process" if settings.resize_runner == "process" else "thread"

    async def download(source: object) -> _Carried:
        got = await client.download(str(source))
        return _Carried(str(source), got.data)

    async def sealed(item: object) -> _Carried:
        assert isinstance(item, _Carried)
        assert job.password is not None
        parts: list[bytes] = []

        async def keep(piece: bytes) -> None:
            parts.append(piece)

        await encrypt(item.data, keep, password=job.password, settings=crypto)
        return replace(item, data=b"".join(parts))

    async def upload(item: object) -> Delivered:
        assert isinstance(item, _Carried)
        name = safe_name(item.source, extension)
        if destination.url is not None:
            media = "application/octet-stream" if job.password else f"image/{job.format}"
            dest = destination.target(name)
            await client.upload(dest, item.data, content_type=media)
        else:
            dest = await destination.write(name, item.data)
        return Delivered(dest, name, item.width, item.height, len(item.data))

    shrink = partial(
        _resize,
        box=job.box,
        mode=job.mode,
        format=job.format,
        quality=job.quality,
        max_pixels=settings.max_pixels,
    )
    stages = [
        Stage("download", download, workers["download"], "async", timeout, retry),
        Stage("resize", shrink, workers["resize"], cpu, timeout),
    ]
    if job.password is not None:
        stages.append(Stage("encrypt", sealed, workers["encrypt"], "async", timeout))
    stages.append(Stage("upload", upload, workers["upload"], "async", timeout, retry))
    return stages


def _resize(
    item: _Carried, *, box: Box, mode: str, format: str, quality: int, max_pixels: int
) -> _Carried:
    """Module-level, so a process worker can run it (``item`` and the result are pickled)."""
    made = resize(item.data, box, mode=mode, format=format, quality=quality, max_pixels=max_pixels)
    return _Carried(item.source, made.data, made.width, made.height)
