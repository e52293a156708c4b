"""A real daemon in this process, for tests (ours and our users'): ``async with serve() as client``.

::

    from service.testing import serve

    async def test_life() -> None:          # on anyio's asyncio backend: aiohttp needs it
        async with serve({"jobs": {"max_running": 1}}) as client:
            job = await client.wait((await client.submit("life", {...})).id)

The daemon is the one ``fanout serve`` runs (``service.daemon.running``): the same store,
manager and application, on 127.0.0.1 and a port the system picks, with its job store and
artifacts in a temporary directory unless ``overrides`` name them (to start a second daemon on
the first one's store). ``FANOUT_*`` variables are ignored, so a test sees only what it sets.
Leaving the block drains the daemon as SIGTERM would (with ``[jobs] shutdown_grace_s``),
then removes the temporary directory.
"""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path

from service.client import Client
from service.config import load_settings
from service.daemon import running

__all__ = ["serve"]


@asynccontextmanager
async def serve(
    overrides: Mapping[str, Mapping[str, object]] | None = None,
    *,
    token: str | None = None,
    drain: bool = True,
) -> AsyncIterator[Client]:
    """A daemon on 127.0.0.1 (any free port) and a ``Client`` connected to it.

    ``drain`` false stops it without a drain: running jobs end interrupted, queued ones stay
    queued in the store (to test what the next daemon on the same store does with them).
    """
    with tempfile.TemporaryDirectory(prefix="fanout-test-") as scratch:
        settings = load_settings(environ={}, overrides=_layered(Path(scratch), overrides or {}))
        async with (
            running(settings, token=token, drain=drain) as daemon,
            Client(daemon.url, token=token) as client,
        ):
            yield client


def _layered(
    scratch: Path, overrides: Mapping[str, Mapping[str, object]]
) -> dict[str, dict[str, object]]:
    layered: dict[str, dict[str, object]] = {
        "http": {"host": "127.0.0.1", "port": 0, "token_file": ""},
        "storage": {
            "path": str(scratch / "fanout.sqlite3"),
            "artifacts_dir": str(scratch / "artifacts"),
        },
    }
    for section, values in overrides.items():
        layered.setdefault(section, {}).update(values)
    return layered
