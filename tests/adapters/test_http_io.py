"""adapters.http_io: downloads and uploads against real aiohttp servers on 127.0.0.1.

Nothing is mocked: every request crosses a real socket to a real server (``aiohttp.web``, or
a raw asyncio server for misbehaviour aiohttp's server will not produce). aiohttp runs on
asyncio only, so this module pins anyio's backend to asyncio.
"""

from __future__ import annotations

import asyncio
import gc
import pickle
import socket
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import anyio
import pytest
from aiohttp import web
from yarl import URL

from adapters._http.addresses import (
    GuardedResolver,
    PrivateAddress,
    forbidden_kind,
    guarded_socket,
)
from adapters._http.failures import mapped_errors
from adapters._http.policy import check_target
from adapters.http_io import Downloaded, HttpClient, HttpError, Policy, Refused

pytestmark = pytest.mark.anyio

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
LIMIT = 4096


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass
class Site:
    """The test server's routes, and what they saw."""

    base: str = ""
    hits: dict[str, int] = field(default_factory=dict)
    stored: dict[str, tuple[bytes, str]] = field(default_factory=dict)

    def url(self, path: str) -> str:
        return self.base + path

    def count(self, request: web.Request) -> None:
        self.hits[request.path] = self.hits.get(request.path, 0) + 1

    async def image(self, request: web.Request) -> web.Response:
        self.count(request)
        return web.Response(body=PNG, content_type="image/png")

    async def page(self, request: web.Request) -> web.Response:
        return web.Response(text="<html></html>", content_type="text/html")

    async def status(self, request: web.Request) -> web.Response:
        return web.Response(status=int(request.match_info["code"]), text="no")

    async def flaky(self, request: web.Request) -> web.Response:
        self.count(request)
        if self.hits[request.path] <= 2:
            return web.Response(status=500, text="try again")
        return web.Response(body=PNG, content_type="image/png")

    async def slow(self, request: web.Request) -> web.Response:
        await asyncio.sleep(5)  # cancelled when the client hangs up (handler_cancellation)
        return web.Response(body=PNG, content_type="image/png")

    async def big(self, request: web.Request) -> web.Response:
        return web.Response(body=b"x" * (LIMIT + 1), content_type="image/png")

    async def big_chunked(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "image/png"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        for _ in range(8):
            await response.write(b"x" * 1000)
        await response.write_eof()
        return response

    async def hop(self, request: web.Request) -> web.Response:
        left = int(request.match_info["left"])
        # Relative Locations, so each must be resolved against the hop that sent it.
        raise web.HTTPFound(f"{left - 1}" if left > 1 else "../image.png")

    async def loop(self, request: web.Request) -> web.Response:
        self.count(request)
        raise web.HTTPFound("/loop")

    async def away(self, request: web.Request) -> web.Response:
        raise web.HTTPFound(request.url.with_host("localhost").with_path("/image.png"))

    async def to_file(self, request: web.Request) -> web.Response:
        raise web.HTTPFound("file:///etc/passwd")

    async def store(self, request: web.Request) -> web.Response:
        self.stored[request.match_info["name"]] = (await request.read(), request.content_type)
        return web.Response(status=201)

    async def moved(self, request: web.Request) -> web.Response:
        raise web.HTTPTemporaryRedirect("/store/moved.png")

    async def see_other(self, request: web.Request) -> web.Response:
        raise web.HTTPSeeOther("/store/other.png")

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/image.png", self.image),
            web.get("/page", self.page),
            web.get("/status/{code}", self.status),
            web.put("/status/{code}", self.status),
            web.get("/flaky", self.flaky),
            web.get("/slow", self.slow),
            web.get("/big", self.big),
            web.get("/big-chunked", self.big_chunked),
            web.get("/hop/{left}", self.hop),
            web.get("/loop", self.loop),
            web.get("/away", self.away),
            web.get("/to-file", self.to_file),
            web.put("/store/{name}", self.store),
            web.put("/moved", self.moved),
            web.put("/see-other", self.see_other),
        ]


@pytest.fixture
async def site() -> AsyncIterator[Site]:
    app = web.Application()
    served = Site()
    app.add_routes(served.routes())
    runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=1.0)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        served.base = f"http://127.0.0.1:{runner.addresses[0][1]}"
        yield served
    finally:
        await runner.cleanup()


RawHandler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@pytest.fixture
async def raw() -> AsyncIterator[Callable[[RawHandler], Awaitable[str]]]:
    """Start raw TCP servers that misbehave as no aiohttp handler would; each gives its URL."""
    servers: list[asyncio.Server] = []

    async def start(handler: RawHandler) -> str:
        server = await asyncio.start_server(handler, "127.0.0.1", 0)
        servers.append(server)
        return f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/image.png"

    yield start
    for server in servers:
        server.close()
        await server.wait_closed()


async def download(policy: Policy, source: str) -> Downloaded:
    async with HttpClient(policy) as client:
        return await client.download(source)


async def failure(policy: Policy, source: str) -> HttpError:
    with pytest.raises(HttpError) as caught:
        await download(policy, source)
    return caught.value


# --- downloads -------------------------------------------------------------------------


async def test_a_served_png_downloads_with_its_content_type(site: Site) -> None:
    got = await download(Policy(), site.url("/image.png"))
    assert got == Downloaded(data=PNG, content_type="image/png", url=site.url("/image.png"))


@pytest.mark.parametrize(
    ("code", "transient"),
    [(404, False), (403, False), (408, True), (429, True), (500, True), (503, True)],
)
async def test_statuses_are_transient_or_permanent(site: Site, code: int, transient: bool) -> None:
    error = await failure(Policy(), site.url(f"/status/{code}"))
    assert (error.status, error.transient, error.url) == (
        code,
        transient,
        site.url(f"/status/{code}"),
    )
    assert f"HTTP {code}" in str(error)
    assert site.url(f"/status/{code}") in str(error)


async def test_500_twice_then_200_is_two_transient_errors_then_the_image(site: Site) -> None:
    async with HttpClient(Policy()) as client:
        for _ in range(2):
            with pytest.raises(HttpError) as caught:
                await client.download(site.url("/flaky"))
            assert (caught.value.transient, caught.value.status) == (True, 500)
        assert (await client.download(site.url("/flaky"))).data == PNG


async def test_a_slow_server_times_out_as_transient(site: Site) -> None:
    with anyio.fail_after(3):
        error = await failure(Policy(read_timeout_s=0.2), site.url("/slow"))
    assert error.transient
    assert error.status is None
    assert "timed out reading" in str(error)
    assert "read_timeout_s" in str(error)


async def test_a_server_that_hangs_up_is_transient(
    raw: Callable[[RawHandler], Awaitable[str]],
) -> None:
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.close()

    url = await raw(hang_up)
    error = await failure(Policy(), url)
    assert error.transient
    assert url in str(error)


async def test_a_body_cut_short_is_transient(raw: Callable[[RawHandler], Awaitable[str]]) -> None:
    async def cut_short(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        head = b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: 1000\r\n\r\n"
        writer.write(head + PNG[:10])
        await writer.drain()
        writer.close()

    error = await failure(Policy(), await raw(cut_short))
    assert error.transient
    assert "lost" in str(error)


async def test_a_refused_connection_is_transient() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # Nothing listens on the port now.
    error = await failure(Policy(), f"http://127.0.0.1:{port}/image.png")
    assert error.transient
    assert "cannot connect" in str(error)


@pytest.mark.parametrize("path", ["/big", "/big-chunked"])
async def test_a_body_over_max_bytes_is_permanent(site: Site, path: str) -> None:
    error = await failure(Policy(max_bytes=LIMIT), site.url(path))
    assert not error.transient
    assert f"body larger than {LIMIT} bytes" in str(error)


async def test_a_body_of_exactly_max_bytes_is_accepted(site: Site) -> None:
    assert len((await download(Policy(max_bytes=LIMIT + 1), site.url("/big"))).data) == LIMIT + 1


async def test_html_is_not_an_image(site: Site) -> None:
    error = await failure(Policy(), site.url("/page"))
    assert not error.transient
    assert "not an image: content-type 'text/html'" in str(error)
    assert (await download(Policy(content_types=()), site.url("/page"))).content_type == "text/html"


# --- redirects -------------------------------------------------------------------------


async def test_a_redirect_chain_ends_at_the_final_url(site: Site) -> None:
    got = await download(Policy(max_redirects=2), site.url("/hop/2"))
    assert (got.data, got.url) == (PNG, site.url("/image.png"))


async def test_one_redirect_more_than_allowed_is_too_many(site: Site) -> None:
    error = await failure(Policy(max_redirects=1), site.url("/hop/2"))
    assert not error.transient
    assert f"too many redirects (2) from {site.url('/hop/2')}" in str(error)


async def test_a_redirect_loop_ends_with_too_many_redirects(site: Site) -> None:
    with anyio.fail_after(5):
        error = await failure(Policy(), site.url("/loop"))
    assert "too many redirects (6)" in str(error)
    assert site.hits["/loop"] == 6


async def test_a_redirect_to_a_host_not_allowed_is_refused(site: Site) -> None:
    error = await failure(Policy(allow_hosts=frozenset({"127.0.0.1"})), site.url("/away"))
    assert isinstance(error, Refused)
    assert "host 'localhost'" in str(error)
    assert error.url == site.url("/away")
    assert "/image.png" not in site.hits


async def test_a_redirect_to_a_file_is_refused_even_with_files_allowed(site: Site) -> None:
    error = await failure(Policy(allow_files=True), site.url("/to-file"))
    assert isinstance(error, Refused)
    assert "scheme 'file'" in str(error)


async def test_a_host_not_allowed_is_refused_before_any_request(site: Site) -> None:
    error = await failure(Policy(allow_hosts=frozenset({"*.example.com"})), site.url("/image.png"))
    assert isinstance(error, Refused)
    assert site.hits == {}


async def test_other_schemes_are_refused_with_the_ones_allowed() -> None:
    error = await failure(Policy(allow_files=False), "ftp://example.com/a.png")
    assert isinstance(error, Refused)
    assert "scheme 'ftp'" in str(error)
    assert "use http, https" in str(error)


# --- the private-address rule ------------------------------------------------------------


async def test_a_loopback_literal_is_refused_before_connecting(site: Site) -> None:
    error = await failure(Policy(allow_private=False), site.url("/image.png"))
    assert isinstance(error, Refused)
    assert "loopback" in str(error)
    assert "allow_private" in str(error)
    assert site.hits == {}


async def test_a_name_that_resolves_to_loopback_is_refused(site: Site) -> None:
    url = site.url("/image.png").replace("127.0.0.1", "localhost")
    error = await failure(Policy(allow_private=False), url)
    assert isinstance(error, Refused)
    assert "'localhost' resolves to loopback address" in str(error)
    assert site.hits == {}


async def test_the_resolver_drops_private_addresses() -> None:
    resolver = GuardedResolver(allow_private=False, timeout_s=5)
    try:
        with pytest.raises(PrivateAddress, match="loopback"):
            await resolver.resolve("localhost", 80)
    finally:
        await resolver.close()


async def test_the_socket_factory_refuses_a_private_address_inside_aiohttp(site: Site) -> None:
    # Only what aiohttp hands the factory is checked here: no resolver, no pre-check.
    url = site.url("/image.png")
    connector = aiohttp.TCPConnector(socket_factory=guarded_socket)
    async with aiohttp.ClientSession(connector=connector) as session:
        with (
            pytest.raises(Refused, match=r"address 127\.0\.0\.1 is loopback"),
            mapped_errors(where=url, given=url, policy=Policy()),
        ):
            await session.get(url)
    assert site.hits == {}


def test_a_redirect_hop_to_a_private_address_is_refused() -> None:
    # The test server is on loopback, so a hop to it cannot be told from the first request;
    # check_target is what every hop passes, redirects included.
    hop = URL("http://169.254.169.254/latest/meta-data/")
    with pytest.raises(Refused, match="link-local") as caught:
        check_target(hop, Policy(allow_private=False), where=str(hop), given="http://a.test/")
    assert caught.value.url == "http://a.test/"
    check_target(hop, Policy(), where=str(hop), given="http://a.test/")


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("10.1.2.3", "private"),
        ("192.168.0.1", "private"),
        ("169.254.169.254", "link-local"),
        ("224.0.0.1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("100.64.0.1", "non-global"),
        ("::1", "loopback"),
        ("::", "unspecified"),
        ("fe80::1", "link-local"),
        ("fc00::1", "private"),
        ("ff02::1", "multicast"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:10.0.0.1", "private"),
        ("2002:7f00:1::1", "loopback"),
        ("8.8.8.8", None),
        ("2606:4700:4700::1111", None),
    ],
)
def test_forbidden_kinds(address: str, kind: str | None) -> None:
    assert forbidden_kind(address) == kind


def test_host_patterns() -> None:
    policy = Policy(allow_hosts=frozenset({"*.example.com", "cdn.test"}))
    assert policy.host_allowed("a.example.com")
    assert policy.host_allowed("A.B.Example.com.")
    assert policy.host_allowed("cdn.test")
    assert not policy.host_allowed("example.com")
    assert not policy.host_allowed("badexample.com")
    assert not policy.host_allowed("cdn.test.evil.com")


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"allow_hosts": frozenset({"Example.com"})}, "'Example.com'"),
        ({"allow_hosts": frozenset({"http://a.test"})}, "'http://a.test'"),
        ({"max_bytes": 0}, "max_bytes 0"),
        ({"read_timeout_s": 0.0}, "read_timeout_s 0.0"),
        ({"content_types": ("Image/",)}, "'Image/'"),
    ],
)
def test_a_bad_policy_names_the_bad_value(options: dict[str, object], named: str) -> None:
    with pytest.raises(ValueError, match=named):
        Policy(**options)  # type: ignore[arg-type]  # a wrong type on purpose: the refusal is the test


# --- local files -------------------------------------------------------------------------


@pytest.fixture
def png_file(tmp_path: Path) -> Path:
    path = tmp_path / "a picture.png"
    path.write_bytes(PNG)
    return path


async def test_files_are_read_by_path_url_and_relative_path(
    png_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(png_file.parent)
    for source in (str(png_file), png_file.as_uri(), png_file.name):
        got = await download(Policy(), source)
        assert (got.data, got.content_type, got.url) == (PNG, "image/png", source)


async def test_files_are_refused_while_off(png_file: Path) -> None:
    for source in (str(png_file), png_file.as_uri()):
        error = await failure(Policy(allow_files=False), source)
        assert isinstance(error, Refused)
        assert "allow_files is off" in str(error)


async def test_a_missing_file_is_permanent_and_named(tmp_path: Path) -> None:
    missing = str(tmp_path / "nope.png")
    error = await failure(Policy(), missing)
    assert (type(error), error.transient) == (HttpError, False)
    assert repr(missing) in str(error)


async def test_files_obey_max_bytes_and_must_be_regular(png_file: Path) -> None:
    error = await failure(Policy(max_bytes=10), str(png_file))
    assert "body larger than 10 bytes" in str(error)
    error = await failure(Policy(), str(png_file.parent))
    assert "not a regular file" in str(error)


# --- uploads -----------------------------------------------------------------------------


async def test_a_put_stores_the_bytes_and_returns_201(site: Site) -> None:
    async with HttpClient(Policy()) as client:
        status = await client.upload(site.url("/store/out.png"), PNG, content_type="image/png")
    assert status == 201
    assert site.stored["out.png"] == (PNG, "image/png")


async def test_a_put_follows_307_with_its_body(site: Site) -> None:
    async with HttpClient(Policy()) as client:
        assert await client.upload(site.url("/moved"), PNG, content_type="image/webp") == 201
    assert site.stored["moved.png"] == (PNG, "image/webp")


async def test_a_put_does_not_follow_redirects_that_drop_its_body(site: Site) -> None:
    async with HttpClient(Policy()) as client:
        with pytest.raises(HttpError, match=r"HTTP 303 .*only 307, 308 are followed") as caught:
            await client.upload(site.url("/see-other"), PNG, content_type="image/png")
    assert (caught.value.transient, caught.value.status) == (False, 303)
    assert site.stored == {}


async def test_a_put_to_a_503_is_transient(site: Site) -> None:
    async with HttpClient(Policy()) as client:
        with pytest.raises(HttpError) as caught:
            await client.upload(site.url("/status/503"), PNG, content_type="image/png")
    assert (caught.value.transient, caught.value.status) == (True, 503)


async def test_a_put_obeys_the_policy(site: Site, tmp_path: Path) -> None:
    async with HttpClient(Policy(allow_private=False)) as client:
        with pytest.raises(Refused, match="loopback"):
            await client.upload(site.url("/store/x.png"), PNG, content_type="image/png")
        with pytest.raises(Refused, match="scheme 'file'"):
            await client.upload((tmp_path / "x.png").as_uri(), PNG, content_type="image/png")
        with pytest.raises(ValueError, match="'image/png\\\\r\\\\nX: y'"):
            await client.upload(site.url("/store/x.png"), PNG, content_type="image/png\r\nX: y")
    assert site.stored == {}


# --- errors and lifecycle ----------------------------------------------------------------


async def test_errors_survive_pickling(site: Site) -> None:
    real = await failure(Policy(), site.url("/status/404"))
    made = Refused("host 'x' is not allowed", url="http://x/")
    for error in (real, made):
        copy = pickle.loads(pickle.dumps(error))
        assert type(copy) is type(error)
        assert str(copy) == str(error)
        assert (copy.url, copy.transient, copy.status) == (error.url, error.transient, error.status)


async def test_no_session_outlives_its_client(site: Site) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        async with HttpClient(Policy(read_timeout_s=5)) as client:
            await client.download(site.url("/image.png"))
            with anyio.move_on_after(0.1):
                await client.download(site.url("/slow"))
        gc.collect()
    assert [str(warning.message) for warning in caught] == []
    with pytest.raises(RuntimeError, match="not open"):
        await client.download(site.url("/image.png"))


def test_the_client_says_it_needs_asyncio() -> None:
    async def enter() -> None:
        async with HttpClient():
            pass

    with pytest.raises(RuntimeError, match="asyncio"):
        anyio.run(enter, backend="trio")
