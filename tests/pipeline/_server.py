"""A real aiohttp server on loopback for the image pipeline's tests and benchmark.

It serves generated JPEGs, and the troubles a pipeline meets: slow responses, 404s, 500s that
pass after two tries, pages that are not images, a pixel bomb, a redirect loop, a redirect to
anywhere (``/redirect?to=URL``); and it takes PUT uploads, keeping what it received, on routes
that refuse some first (503 once, 500 twice) or every time (500).
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import anyio
import numpy as np
from aiohttp import web
from PIL import Image

__all__ = ["Served", "bomb_png", "jpeg", "serve"]

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def jpeg(width: int, height: int, seed: int = 0) -> bytes:
    """A photo-like JPEG: gradients and noise, not flat colour."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([x * 255 // max(1, width - 1), y * 255 // max(1, height - 1), (x + y) % 256])
    noisy = base.transpose(1, 2, 0) + rng.integers(0, 40, (height, width, 3))
    image = Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8), "RGB")
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


def bomb_png(width: int = 100_000, height: int = 100_000) -> bytes:
    """A tiny PNG whose header claims ``width`` x ``height`` pixels."""
    out = io.BytesIO()
    Image.new("1", (8, 8)).save(out, "PNG")
    data = bytearray(out.getvalue())
    start = 8 + 8  # signature, then the IHDR chunk's length and type
    data[start : start + 8] = struct.pack(">II", width, height)
    crc = zlib.crc32(bytes(data[12 : start + 13]))
    data[start + 13 : start + 17] = struct.pack(">I", crc)
    return bytes(data)


@dataclass
class Served:
    """The running server: its base URL, what it was asked, and what was uploaded."""

    base: str
    delay_s: float = 0.0
    hits: dict[str, int] = field(default_factory=dict)
    uploads: dict[str, bytes] = field(default_factory=dict)
    images: dict[str, bytes] = field(default_factory=dict)

    def url(self, path: str) -> str:
        return self.base + path


@asynccontextmanager
async def serve(*, delay_s: float = 0.0) -> AsyncIterator[Served]:
    """Start the server on 127.0.0.1 (any free port); ``delay_s`` is added to every request."""
    served = Served("", delay_s)
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_get("/img/{name}", _image(served))
    app.router.add_get("/slow/{name}", _slow(served))
    app.router.add_get("/flaky/{name}", _flaky(served))
    app.router.add_get("/page.html", _page)
    app.router.add_get("/garbage.jpg", _garbage)
    app.router.add_get("/bomb.png", _bomb)
    app.router.add_get("/loop/{n}", _loop)
    app.router.add_get("/redirect", _redirect)
    app.router.add_put("/upload/{name}", _upload(served))
    app.router.add_put("/shaky/{name}", _failing_upload(served, 1, 503, "busy"))
    app.router.add_put("/flaky-upload/{name}", _failing_upload(served, 2, 500, "try again"))
    app.router.add_put("/broken-upload/{name}", _broken_upload(served))
    # A stalled handler must not hold the server's shutdown for aiohttp's default minute.
    runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    served.base = f"http://127.0.0.1:{port}"
    try:
        yield served
    finally:
        await runner.cleanup()


def _count(served: Served, request: web.Request) -> int:
    served.hits[request.path] = served.hits.get(request.path, 0) + 1
    return served.hits[request.path]


def _image(served: Served) -> _Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        _count(served, request)
        await anyio.sleep(served.delay_s)
        name = request.match_info["name"]
        if name not in served.images:
            number = sum(map(ord, name))
            served.images[name] = jpeg(320 + number % 64, 240 + number % 32, seed=number)
        return web.Response(body=served.images[name], content_type="image/jpeg")

    return handler


def _slow(served: Served) -> _Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        _count(served, request)
        await anyio.sleep(30)
        return web.Response(status=204)

    return handler


def _flaky(served: Served) -> _Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        if _count(served, request) <= 2:
            return web.Response(status=500, text="try again")
        return web.Response(body=jpeg(200, 100), content_type="image/jpeg")

    return handler


async def _page(request: web.Request) -> web.StreamResponse:
    return web.Response(text="<html>no image here</html>", content_type="text/html")


async def _garbage(request: web.Request) -> web.StreamResponse:
    return web.Response(body=b"\xff\xd8 certainly not a jpeg", content_type="image/jpeg")


async def _bomb(request: web.Request) -> web.StreamResponse:
    return web.Response(body=bomb_png(), content_type="image/png")


async def _loop(request: web.Request) -> web.StreamResponse:
    following = 1 - int(request.match_info["n"])
    raise web.HTTPFound(f"/loop/{following}")


async def _redirect(request: web.Request) -> web.StreamResponse:
    """``/redirect?to=LOCATION``: a 302 to whatever ``to`` says, for the redirect checks."""
    raise web.HTTPFound(request.query["to"])


def _upload(served: Served) -> _Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        await anyio.sleep(served.delay_s)
        served.uploads[request.match_info["name"]] = await request.read()
        return web.Response(status=201)

    return handler


def _failing_upload(served: Served, failures: int, status: int, text: str) -> _Handler:
    """Answers ``status`` to the first ``failures`` PUTs of each name, then takes it."""

    async def handler(request: web.Request) -> web.StreamResponse:
        if _count(served, request) <= failures:
            return web.Response(status=status, text=text)
        served.uploads[request.match_info["name"]] = await request.read()
        return web.Response(status=201)

    return handler


def _broken_upload(served: Served) -> _Handler:
    """Answers 500 to every PUT, counting them."""

    async def handler(request: web.Request) -> web.StreamResponse:
        _count(served, request)
        return web.Response(status=500, text="broken for good")

    return handler
