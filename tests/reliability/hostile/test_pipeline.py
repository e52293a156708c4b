"""Hostile pipeline sources: refused at submission, or when fetched (private hosts, redirects)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote

import pytest

from service.jobs.model import JobState
from service.testing import serve
from tests.pipeline._server import serve as image_server
from tests.reliability.hostile._cases import (
    Settings,
    pipeline,
    refusal_test,
    source,
    submit,
)

_PRIVATE: Final = "not under an allowed prefix"
SOURCE_CASES: Final = [
    source("file-url", "file:///etc/passwd", "local files are never read for a job"),
    source("file-url-upper", "FILE:///etc/passwd", "local files are never read for a job"),
    source("file-url-no-slashes", "file:/etc/passwd", "local files are never read for a job"),
    source("plain-path", "/etc/passwd", "local files are never read", "give an http(s) URL"),
    source("gopher", "gopher://10.0.0.1/img/a", "the scheme 'gopher' is not allowed"),
    source("private-address", "http://10.0.0.2/img/a.jpg", _PRIVATE, "'http://10.0.0.1/img/'"),
    source("metadata-address", "http://169.254.169.254/latest/meta-data/", _PRIVATE),
    source("ipv6-loopback", "http://[::1]/img/a.jpg", _PRIVATE),
    source("decimal-loopback", "http://2130706433/img/a.jpg", _PRIVATE),
    source("prefix-as-a-subdomain", "https://images.example.evil.test/a.jpg", _PRIVATE),
    source("prefix-as-userinfo", "https://images.example@169.254.169.254/a.jpg", _PRIVATE),
    source("dot-dot", "http://10.0.0.1/img/../admin/a.jpg", "'.' or '..' segment"),
    source("dot-dot-escaped", "http://10.0.0.1/img/%2E%2E%2Fadmin/a.jpg", "'..' segment"),
    source("backslash", "http://10.0.0.1/img/..\\admin\\a.jpg", "it holds a backslash"),
    source("header-injection", "http://10.0.0.1/img/a.jpg\r\nHost: evil", "control character"),
    source("bad-port", "http://10.0.0.1:99999/img/a.jpg", "not a well-formed URL"),
    pipeline("no-sources", {"sources": []}, "params.sources", "length >= 1"),
    pipeline(
        "destination-traversal",
        {"sources": ["http://10.0.0.1/img/a.jpg"], "destination": "../../etc"},
        "params.destination",
        "'../../etc': no such destination: choose one of 'thumbs'",
    ),
    pipeline(
        "destination-absolute",
        {"sources": ["http://10.0.0.1/img/a.jpg"], "destination": "/etc"},
        "params.destination",
        "no such destination",
    ),
    pipeline(
        "destination-url",
        {"sources": ["http://10.0.0.1/img/a.jpg"], "destination": "http://evil.test/"},
        "params.destination",
        "no such destination",
    ),
    submit(
        "pipeline-off",
        {"kind": "pipeline", "params": {"sources": ["http://10.0.0.1/a"], "destination": "x"}},
        field="params.sources",
        says=("pipeline jobs over HTTP are off", "[pipeline] allowed_sources"),
    ),
]


test_refused_with_a_status_and_a_message = refusal_test(source=SOURCE_CASES)


def _listed(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.iterdir())


def _fetching(**settings: object) -> Settings:
    """Pipeline settings for a job against the image server: one attempt, small PNGs."""
    return {
        "pipeline": {
            "size": "32x32",
            "format": "png",
            "attempts": 1,
            **settings,
        }
    }


async def _manifest(settings: Settings, sources: list[str]) -> list[dict[str, Any]]:
    """Run a pipeline job over ``sources``; its manifest's items, in the order of ``sources``."""
    async with serve(settings) as client:
        job = await client.submit("pipeline", {"sources": sources, "destination": "thumbs"})
        done = await client.wait(job.id, timeout_s=30)
        # A job with an item that failed ends failed, its manifest kept.
        assert done.status in (JobState.SUCCEEDED, JobState.FAILED), done.error
        assert done.artifact is not None, done.error
        items: list[dict[str, Any]] = json.loads(await client.result(job.id))["items"]
    by_source = {item["source"]: item for item in items}
    return [by_source[url] for url in sources]


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("host", "says"),
    [
        pytest.param("10.0.0.1", "address 10.0.0.1 of {url} is private", id="private"),
        pytest.param(
            "169.254.169.254", "address 169.254.169.254 of {url} is link-local", id="metadata"
        ),
        pytest.param("127.0.0.1:{port}", "address 127.0.0.1 of {url} is loopback", id="ipv4-lo"),
        pytest.param("[::1]:{port}", "address ::1 of {url} is loopback", id="ipv6-loopback"),
        pytest.param(
            "localhost:{port}",
            "host 'localhost' resolves to loopback address 127.0.0.1 ({url})",
            id="name-resolving-to-loopback",
        ),
    ],
)
async def test_a_private_source_is_refused_when_fetched(
    host: str, says: str, tmp_path: Path
) -> None:
    # The prefix list lets the URL in at submission (an operator may list any host); the SSRF
    # guard then refuses it on its address before a connection is made: the item fails in
    # the job's manifest, the job itself succeeds, and the image server sees no request.
    async with image_server() as images:
        port = images.base.rsplit(":", 1)[1]
        url = f"http://{host.format(port=port)}/img/a.jpg"
        settings = _fetching(
            allowed_sources=url,
            allow_private=False,
            destinations={"thumbs": str(tmp_path)},
        )
        (item,) = await _manifest(settings, [url])
        assert images.hits == {}
    assert (item["stage"], item["name"]) == ("download", None)
    assert says.format(url=url) in item["error"]
    assert "allow_private is off" in item["error"]
    assert _listed(tmp_path) == []


@pytest.mark.anyio
async def test_a_redirect_off_the_allowed_hosts_is_refused_when_fetched(tmp_path: Path) -> None:
    # The first hop is on loopback, so allow_private is on here; each redirect is checked like
    # the first URL, against the hosts of [pipeline] allowed_sources (only 127.0.0.1).
    hosts = "is not allowed: allow_hosts is 127.0.0.1"
    async with image_server() as images:
        port = images.base.rsplit(":", 1)[1]
        targets = {
            "http://evil.example/a.jpg": f"host 'evil.example' {{hop}} {hosts}",
            "http://169.254.169.254/latest/": f"host '169.254.169.254' {{hop}} {hosts}",
            f"http://localhost:{port}/img/a.jpg": f"host 'localhost' {{hop}} {hosts}",
            "file:///etc/passwd": "scheme 'file' {hop} is not allowed: use http or https",
            "/img/fine.jpg": "",  # a redirect that stays on the allowed host is followed
        }
        sources = [images.url("/redirect?to=" + quote(target, safe="")) for target in targets]
        settings = _fetching(
            allowed_sources=images.base + "/",
            allow_private=True,
            destinations={"thumbs": str(tmp_path)},
        )
        items = await _manifest(settings, sources)
    for item, (target, says) in zip(items, targets.items(), strict=True):
        hop = f"of {target} (redirected from {item['source']})"
        assert item["error"] == (says.format(hop=hop) or None), item
        assert item["stage"] == ("download" if says else None), item
    assert len(_listed(tmp_path)) == 1


@pytest.mark.anyio
async def test_file_names_from_sources_stay_in_the_destination(tmp_path: Path) -> None:
    # Names written are made from the source's last segment, never a path: escaped
    # traversals, backslashes and NULs become plain names inside the destination directory.
    destination = tmp_path / "thumbs"
    destination.mkdir()
    async with image_server() as images:
        names = [
            "..%5C..%5Cevil.jpg",
            "%2e%2e%5cx.jpg",
            "a%00b.jpg",
            "%2e%2e%5cetc%5cpasswd",
            "....jpg",
        ]
        sources = [images.url(f"/img/{name}") for name in names]
        settings = _fetching(
            allowed_sources=images.base + "/img/",
            allow_private=True,
            destinations={"thumbs": str(destination)},
        )
        items = await _manifest(settings, sources)
    written = _listed(destination)
    assert _listed(tmp_path) == ["thumbs"]
    assert len(written) == len(names)
    for item in items:
        assert item["error"] is None, item
        assert (destination / item["name"]).is_file()
    for name in written:
        assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*-[0-9a-f]{10}\.png", name), name
