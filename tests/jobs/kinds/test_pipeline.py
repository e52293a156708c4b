"""The pipeline kind against a real aiohttp server on loopback, with settings from TOML."""

from __future__ import annotations

import json
import re
from pathlib import Path

import msgspec
import pytest
from PIL import Image

from service.config import PipelineSettings, Settings, load_settings
from service.errors import BadParam, ConfigError
from service.jobs.kinds.pipeline import MEDIA_TYPE, PipelineKind, PipelineParams
from service.pipeline.destination import Destination
from tests.jobs.kinds._context import Context
from tests.pipeline._server import serve

pytestmark = pytest.mark.anyio

KIND = PipelineKind()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # aiohttp


def settings_for(tmp_path: Path, base: str, *, allowed: str | None = None) -> Settings:
    """Settings read from a config file, as the daemon reads them."""
    (tmp_path / "thumbs").mkdir(exist_ok=True)
    config = tmp_path / "config.toml"
    config.write_text(
        f"""
[pipeline]
allowed_sources = "{allowed if allowed is not None else base + "/img/," + base + "/garbage.jpg"}"
allow_private = true  # the server is on loopback
attempts = 1
stage_timeout_s = 5.0
format = "png"

[pipeline.destinations]
thumbs = "{tmp_path / "thumbs"}"
uploads = "{base}/upload"
""",
        encoding="utf-8",
    )
    return load_settings(config, environ={})


async def test_a_job_delivers_into_a_configured_directory_and_writes_a_manifest(
    tmp_path: Path,
) -> None:
    async with serve() as served:
        context = Context(tmp_path, settings=settings_for(tmp_path, served.base))
        sources = [served.url(f"/img/photo-{n}.jpg") for n in range(3)]
        sources.append(served.url("/garbage.jpg"))
        params = PipelineParams(sources=sources, destination="thumbs", size="64x64")
        KIND.check(params, context.settings)
        outcome = await KIND.run(params, context)

    result = outcome.result
    assert (result["total"], result["succeeded"], result["failed"]) == (4, 3, 1)
    assert result["destination"] == "thumbs"
    items = result["items"]
    assert [item["source"] for item in items] == sources
    for item in items[:3]:
        assert set(item) == {
            "source", "name", "width", "height", "bytes", "attempts", "stage", "error"
        }  # fmt: skip
        # The name in the destination the job names, never a path on the daemon's disk.
        assert "/" not in item["name"]
        with Image.open(tmp_path / "thumbs" / item["name"]) as image:
            assert image.format == "PNG"
            assert image.size == (item["width"], item["height"])
            assert max(image.size) == 64
    assert items[3]["stage"] == "resize"
    assert items[3]["name"] is None
    assert items[3]["error"]
    assert outcome.failure == (
        "1 of 4 items failed (the manifest names each one's stage and reason); 3 delivered "
        "to 'thumbs'"
    )

    assert outcome.media_type == MEDIA_TYPE == "application/json"
    assert outcome.artifact is not None
    manifest = json.loads(outcome.artifact.read_text(encoding="utf-8"))
    assert manifest["items"] == items
    assert manifest["succeeded"] == 3
    assert manifest["bound"] >= manifest["peak_in_flight"] >= 1
    assert context.reports[0] == (0, 4)
    assert context.reports[-1] == (4, 4)


async def test_a_job_uploads_to_a_configured_base_url(tmp_path: Path) -> None:
    async with serve() as served:
        context = Context(tmp_path, settings=settings_for(tmp_path, served.base))
        params = PipelineParams(sources=[served.url("/img/a.jpg")], destination="uploads")
        outcome = await KIND.run(params, context)
        uploaded = dict(served.uploads)
    assert outcome.result["succeeded"] == 1
    (name,) = uploaded
    assert outcome.result["items"][0]["name"] == name
    assert outcome.failure is None
    assert uploaded[name].startswith(b"\x89PNG")


async def test_a_destination_directory_that_is_gone_is_a_config_error(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, "http://127.0.0.1:9")
    (tmp_path / "thumbs").rmdir()
    params = PipelineParams(sources=["http://127.0.0.1:9/img/a.jpg"], destination="thumbs")
    with pytest.raises(ConfigError, match=r"\[pipeline\.destinations\] thumbs = .*no such dir"):
        await KIND.run(params, Context(tmp_path, settings=settings))


BASE = "http://127.0.0.1:9"


@pytest.mark.parametrize(
    ("sources", "field", "message"),
    [
        (
            [f"{BASE}/img/a.jpg", f"{BASE}/img/b.jpg", f"{BASE}/img/c.jpg", f"{BASE}/etc/x"],
            "params.sources[3]",
            f"params.sources[3] = '{BASE}/etc/x': not under an allowed prefix: sources must "
            f"start with '{BASE}/img/', 'https://cdn.example.com/' ([pipeline] allowed_sources)",
        ),
        (["file:///etc/passwd"], "params.sources[0]", "local files are never read for a job"),
        (["/etc/passwd"], "params.sources[0]", "local files are never read for a job"),
        (["ftp://cdn.example.com/a"], "params.sources[0]", "the scheme 'ftp' is not allowed"),
        (
            ["https://cdn.example.com.evil.example/a.jpg"],
            "params.sources[0]",
            "not under an allowed prefix",
        ),
        (
            [f"{BASE}/img/../private/a.jpg"],
            "params.sources[0]",
            "its path holds a '.' or '..' segment",
        ),
        ([f"{BASE}/img/%2e%2e/x.jpg"], "params.sources[0]", "'..' segment"),
        ([f"{BASE}/img/a b.jpg"], "params.sources[0]", "a space or a control character"),
        ([f"{BASE}/img\\..\\x"], "params.sources[0]", "a backslash"),
        (["http://[::1/img/a.jpg"], "params.sources[0]", "not a well-formed URL"),
        ([], "params.sources", "params.sources has 0 URLs: give 1 to 10_000"),
    ],
)
def test_sources_outside_the_allowed_prefixes_are_refused_by_index(
    tmp_path: Path, sources: list[str], field: str, message: str
) -> None:
    settings = settings_for(tmp_path, BASE, allowed=f"{BASE}/img/, https://cdn.example.com")
    with pytest.raises(BadParam, match=re.escape(message)) as caught:
        KIND.check(PipelineParams(sources=sources, destination="thumbs"), settings)
    assert caught.value.field == field


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        (
            PipelineParams(sources=[f"{BASE}/img/a.jpg"], destination="nas"),
            "params.destination",
            "params.destination = 'nas': no such destination: choose one of 'thumbs', 'uploads'",
        ),
        (
            PipelineParams(sources=[f"{BASE}/img/a.jpg"], destination="thumbs", size="huge"),
            "params.size",
            "expected WIDTHxHEIGHT",
        ),
        (
            PipelineParams(sources=[f"{BASE}/img/a.jpg"], destination="thumbs", mode="stretch"),
            "params.mode",
            "params.mode = 'stretch': choose one of fit, cover",
        ),
        (
            PipelineParams(sources=[f"{BASE}/img/a.jpg"], destination="thumbs", format="gif"),
            "params.format",
            "choose one of webp, jpeg, png",
        ),
        (
            PipelineParams(sources=[f"{BASE}/img/a.jpg"], destination="thumbs", quality=0),
            "params.quality",
            "must be 1 to 100",
        ),
    ],
)
def test_check_refuses_unknown_destinations_and_image_options(
    tmp_path: Path, params: PipelineParams, field: str, message: str
) -> None:
    with pytest.raises(BadParam, match=re.escape(message)) as caught:
        KIND.check(params, settings_for(tmp_path, BASE))
    assert caught.value.field == field


def test_jobs_are_off_without_allowed_sources_or_destinations() -> None:
    params = PipelineParams(sources=["https://cdn.example.com/a.jpg"], destination="thumbs")
    with pytest.raises(BadParam, match="pipeline jobs over HTTP are off") as caught:
        KIND.check(params, Settings())
    assert caught.value.field == "params.sources"
    allowed = Settings(pipeline=PipelineSettings(allowed_sources="https://cdn.example.com/"))
    with pytest.raises(BadParam, match=r"none is configured \(\[pipeline\.destinations\]\)"):
        KIND.check(params, allowed)


@pytest.mark.parametrize(
    ("allowed", "message"),
    [
        ("images.example.com", "'images.example.com' is not an http(s) URL prefix"),
        ("https://bücher.example/", "an IDN host goes in its xn-- form"),
    ],
)
def test_a_wrong_allowed_sources_setting_is_a_config_error(allowed: str, message: str) -> None:
    settings = Settings(pipeline=PipelineSettings(allowed_sources=allowed))
    params = PipelineParams(sources=["https://images.example.com/a.jpg"], destination="x")
    with pytest.raises(ConfigError, match=re.escape(message)):
        KIND.check(params, settings)


def test_a_job_keeps_to_its_hosts_and_never_reads_files() -> None:
    from service.jobs.kinds.pipeline import _network

    pipeline = PipelineSettings(
        allowed_sources="https://img.example.com/a/,http://10.0.0.7:8080/b/", allow_files=True
    )
    upload = Destination(url="https://Up.Example.net/put/")
    network = _network(pipeline, upload)
    assert network.allow_files is False
    assert network.allow_hosts == "10.0.0.7,img.example.com,up.example.net"
    assert network.allow_private is False
    chosen = PipelineSettings(allowed_sources="https://img.example.com/", allow_hosts="*.cdn.net")
    assert _network(chosen, Destination(directory=Path("."))).allow_hosts == "*.cdn.net"


def test_params_decode_strictly() -> None:
    with pytest.raises(msgspec.ValidationError, match="unknown field `dest`"):
        msgspec.convert({"sources": ["x"], "destination": "d", "dest": "/tmp"}, PipelineParams)
    with pytest.raises(msgspec.ValidationError, match=r"length >= 1 - at `\$\.sources`"):
        msgspec.convert({"sources": [], "destination": "d"}, PipelineParams)
    too_many = {"sources": ["x"] * 10_001, "destination": "d"}
    with pytest.raises(msgspec.ValidationError, match=r"length <= 10000"):
        msgspec.convert(too_many, PipelineParams)
    assert KIND.timeout_s(Settings()) is None
