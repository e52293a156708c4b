"""The image pipeline end to end: a real aiohttp server, real Pillow, real files and PUTs."""

from __future__ import annotations

import io
import os
import threading
from dataclasses import replace
from pathlib import Path

import anyio
import pytest
from PIL import Image

from adapters.imaging import Box
from adapters.openssl import Password
from service.config import CryptoSettings, PipelineSettings
from service.crypto import decrypt
from service.errors import InvalidInput
from service.pipeline.destination import Destination, safe_name
from service.pipeline.images import Delivered, ImageJob, cpu_workers, run_images
from tests.pipeline._server import Served, jpeg, serve

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # aiohttp


SETTINGS = PipelineSettings(
    allow_private=True,  # the test server is on loopback
    download_workers=4,
    resize_workers=2,
    upload_workers=4,
    buffer=2,
    attempts=3,
    backoff_base_s=0.01,
    backoff_max_s=0.02,
    stage_timeout_s=0.5,
    read_timeout_s=0.3,
)
JOB = ImageJob(Box(128, 128), mode="fit", format="webp", quality=80)


def sources(served: Served) -> list[str]:
    good = [served.url(f"/img/photo-{n}.jpg") for n in range(8)]
    troubles = [
        "/flaky/twice.jpg",
        "/missing.jpg",
        "/page.html",
        "/garbage.jpg",
        "/bomb.png",
        "/loop/0",
        "/slow/stall.jpg",
    ]
    return good + [served.url(path) for path in troubles]


@pytest.mark.parametrize("engine", ["async", "threads"])
async def test_images_arrive_resized_and_every_trouble_is_reported(
    engine: str, tmp_path: Path
) -> None:
    async with serve() as served:
        manifest = await run_images(
            sources(served),
            Destination(tmp_path),
            JOB,
            settings=SETTINGS,
            engine=engine,  # type: ignore[arg-type]  # a wrong type on purpose: the refusal is the test
        )
    by_path = {o.source.removeprefix(served.base): o for o in manifest.outcomes}
    assert manifest.succeeded == 9  # eight photos and the flaky one
    for outcome in manifest.outcomes:
        if not outcome.ok:
            continue
        delivered = outcome.result
        assert isinstance(delivered, Delivered)
        with Image.open(delivered.dest) as image:
            assert image.format == "WEBP"
            assert image.size == (delivered.width, delivered.height)
            assert max(image.size) == 128  # fit: the long side fills the box
        assert len(await anyio.Path(delivered.dest).read_bytes()) == delivered.bytes
    flaky = by_path["/flaky/twice.jpg"]
    assert flaky.ok
    assert flaky.attempts["download"] == 3  # two 500s, retried: transient
    expected = {
        "/missing.jpg": ("download", "404", 1),
        "/page.html": ("download", "not an image", 1),
        "/garbage.jpg": ("resize", "not an image", 1),
        "/bomb.png": ("resize", "max_pixels", 1),
        "/loop/0": ("download", "too many redirects", 1),
        "/slow/stall.jpg": ("download", "timed out", 3),  # transient: tried three times
    }
    for path, (stage, reason, attempts) in expected.items():
        outcome = by_path[path]
        assert (outcome.stage, outcome.attempts[stage]) == (stage, attempts), path
        assert outcome.error is not None
        assert reason in outcome.error, (path, outcome.error)
    assert [p async for p in anyio.Path(tmp_path).glob("*.part")] == []


async def test_both_engines_give_the_same_manifest(tmp_path: Path) -> None:
    async with serve() as served:
        urls = [*sources(served)[:9], served.url("/missing.jpg"), served.url("/page.html")]
        ours = await run_images(urls, Destination(tmp_path), JOB, settings=SETTINGS)
        served.hits.clear()  # the flaky route fails twice again
        theirs = await run_images(
            urls, Destination(tmp_path), JOB, settings=SETTINGS, engine="threads"
        )
    assert ours.outcomes == theirs.outcomes


async def test_resize_workers_0_are_one_more_than_the_cores(tmp_path: Path) -> None:
    auto = replace(SETTINGS, resize_workers=0)
    assert cpu_workers(auto) == (os.cpu_count() or 1) + 1
    assert cpu_workers(SETTINGS) == 2
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(jpeg(64, 48))
    out = tmp_path / "out"
    out.mkdir()
    manifest = await run_images([str(photo)], Destination(out), JOB, settings=auto)
    assert manifest.succeeded == 1
    # One for the feeder, then buffer + workers for download, resize and upload.
    workers = auto.download_workers + cpu_workers(auto) + auto.upload_workers
    assert manifest.bound == 1 + 3 * auto.buffer + workers


async def test_uploads_by_put_to_a_base_url() -> None:
    async with serve() as served:
        urls = [served.url(f"/img/put-{n}.jpg") for n in range(5)]
        destination = Destination.parse(served.url("/upload"))
        job = ImageJob(Box(64, 64), mode="cover", format="png")
        manifest = await run_images(urls, destination, job, settings=SETTINGS)
    assert manifest.succeeded == 5
    assert sorted(served.uploads) == sorted(safe_name(url, "png") for url in urls)
    for data in served.uploads.values():
        with Image.open(io.BytesIO(data)) as image:
            assert (image.format, image.size) == ("PNG", (64, 64))  # cover: the box exactly


async def test_an_upload_answered_503_is_tried_again() -> None:
    async with serve() as served:
        urls = [served.url(f"/img/shaky-{n}.jpg") for n in range(3)]
        destination = Destination.parse(served.url("/shaky"))
        manifest = await run_images(urls, destination, JOB, settings=SETTINGS)
    assert manifest.succeeded == 3
    assert all(
        outcome.attempts == {"download": 1, "resize": 1, "upload": 2}
        for outcome in manifest.outcomes
    )
    assert len(served.uploads) == 3


async def test_encrypted_images_decrypt_back_to_images(tmp_path: Path) -> None:
    crypto = CryptoSettings(pbkdf2_iterations=1_000)
    job = ImageJob(Box(96, 96), format="jpeg", password=Password("s3cret pipeline"))
    async with serve() as served:
        urls = [served.url(f"/img/sealed-{n}.jpg") for n in range(3)]
        manifest = await run_images(
            urls, Destination(tmp_path), job, settings=SETTINGS, crypto=crypto
        )
    assert manifest.succeeded == 3
    for outcome in manifest.outcomes:
        assert isinstance(outcome.result, Delivered)
        assert outcome.result.dest.endswith(".jpeg.enc")
        plain = tmp_path / f"plain-{outcome.index}"
        await decrypt(outcome.result.dest, plain, password="s3cret pipeline", settings=crypto)
        with Image.open(io.BytesIO(await anyio.Path(plain).read_bytes())) as image:
            assert (image.format, max(image.size)) == ("JPEG", 96)


async def test_cancelling_mid_run_leaves_nothing_running(tmp_path: Path) -> None:
    async with serve(delay_s=0.05) as served:
        urls = [served.url(f"/img/many-{n}.jpg") for n in range(200)]
        with anyio.move_on_after(0.5):
            await run_images(urls, Destination(tmp_path), JOB, settings=SETTINGS)
    written = [p.name async for p in anyio.Path(tmp_path).iterdir()]
    assert len(written) < 200  # stopped part way
    assert not [name for name in written if name.endswith(".part")]
    assert not [t for t in threading.enumerate() if t.name.startswith("pipeline-")]


def test_names_are_safe_whatever_the_source() -> None:
    for source in [
        "http://example.com/../../etc/passwd",
        "file:///etc/shadow",
        "../../../x.jpg",
        "http://example.com/a%2F..%2F..%2Fb.jpg",
        "http://example.com/",
        "C:\\Windows\\system32\\cmd.exe",
    ]:
        name = safe_name(source, "webp")
        assert "/" not in name
        assert "\\" not in name
        assert not name.startswith(".")
        assert name.endswith(".webp")
    assert safe_name("http://a/x.jpg", "png") != safe_name("http://b/x.jpg", "png")


def test_a_destination_is_a_directory_or_an_http_url(tmp_path: Path) -> None:
    assert Destination.parse(str(tmp_path)).directory == tmp_path
    assert Destination.parse("https://example.com/in").url == "https://example.com/in/"
    with pytest.raises(InvalidInput, match="no such directory"):
        Destination.parse(str(tmp_path / "nope"))
    with pytest.raises(InvalidInput, match="a directory or an http"):
        Destination.parse("ftp://example.com/in")
