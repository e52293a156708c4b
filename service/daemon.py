"""The daemon's life: refuse unsafe starts, open the store, serve, and drain on a signal.

Start, in an order that fails fast and leaves nothing behind::

    check exposure      a non-loopback address needs a token (else exit 2, one line)
    bind the socket     a taken port or an unknown host fails here, before any job is touched
    open the store      SQLite file and artifacts directory (exit 2 when they cannot be opened)
    enter the manager   it recovers the jobs of the last run (queued ones run again)
    serve               aiohttp on the bound socket; "fanout: serving on http://HOST:PORT"

Stop (SIGTERM or SIGINT, or leaving ``running``): the manager stops taking jobs (new ones get
503 with Retry-After, everything else keeps answering), running jobs get ``[jobs]
shutdown_grace_s`` to finish, the rest are cancelled and end ``interrupted``; then the server
closes, the manager exits and the store is closed. Last, ``run`` stops multiprocessing's
forkserver and resource tracker, which would otherwise outlive the daemon by a moment.
"""

from __future__ import annotations

import gc
import ipaddress
import signal
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Final, final

import anyio
from aiohttp import web

from adapters.processes import stop_helpers
from service.api import AccessLog, Metrics, create_app
from service.api.logs import ACCESS_LOG, API_LOG, SERVER_LOG, configure_logging, line
from service.api.metered import MeteredStore
from service.config import CryptoSettings, Settings
from service.crypto import check_algorithm, openssl_for
from service.errors import ConfigError, FanoutError, StoreBusy
from service.jobs.artifacts import Artifacts
from service.jobs.kinds import KINDS
from service.jobs.manager import JobManager
from service.jobs.store.sqlite import SqliteJobStore

__all__ = ["Daemon", "check_exposure", "run", "running"]

# Handlers still running when the server closes (an event stream, an upload) get this long.
_CLOSE_GRACE_S: Final = 1.0
_GC_YOUNG_THRESHOLD: Final = 10_000  # net allocations between young collections (default 700)


@final
@dataclass(frozen=True, slots=True)
class Daemon:
    """A running daemon: where it listens, and its job manager."""

    url: str
    host: str
    port: int
    manager: JobManager


def run(settings: Settings, *, token: str | None) -> None:
    """``fanout serve``: serve until SIGTERM or SIGINT, then drain and return.

    Raises ConfigError (exit 2) when the daemon refuses to start.
    """
    configure_logging(sys.stderr)
    # The daemon keeps every queued job in memory (up to [jobs] max_queued), and at the default
    # threshold (700) the collector scans those survivors again and again as they age: under a
    # flood of submissions it took about 6 % of the event loop's time, with full collections of
    # about 50 ms each. Collecting the youngest objects every 10,000 net allocations instead
    # leaves it under 1 %, and the peak RSS the same.
    thresholds = gc.get_threshold()
    gc.set_threshold(_GC_YOUNG_THRESHOLD, *thresholds[1:])
    try:
        anyio.run(_serve_until_signalled, settings, token, backend="asyncio")
    except BaseExceptionGroup as group:
        raise _single(group) from None
    finally:
        gc.set_threshold(*thresholds)
        # Every job has ended and every pool is closed: stop the processes multiprocessing
        # keeps for them, so that nothing the daemon started outlives it.
        stop_helpers()


async def _serve_until_signalled(settings: Settings, token: str | None) -> None:
    # Opened first: a signal during the start must begin a drain, not kill the process.
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async with running(settings, token=token) as daemon:
            print(f"fanout: serving on {daemon.url}", file=sys.stderr, flush=True)
            async for number in signals:
                API_LOG.info(line("stopping", signal=signal.Signals(number).name))
                break


@asynccontextmanager
async def running(
    settings: Settings, *, token: str | None, drain: bool = True
) -> AsyncIterator[Daemon]:
    """Serve the API on ``[http] host`` and ``port`` until the block ends, then drain.

    With ``drain`` false the daemon stops at once, as if killed between two jobs: running
    jobs end ``interrupted`` and queued ones stay queued in the store for the next start.
    """
    host = settings.http.host
    check_exposure(host, token)
    with _bind(host, settings.http.port) as sock:
        await _learn_openssl(settings.crypto)
        store = await _open_store(settings)
        try:
            artifacts = Artifacts(settings.storage.artifacts_dir)
            metrics = Metrics()
            metered = MeteredStore(store, metrics)
            async with JobManager(settings, metered, KINDS, artifacts=artifacts) as manager:
                app = create_app(manager, settings, token=token, metrics=metrics, kinds=KINDS)
                async with _served(app, sock) as port:
                    try:
                        yield Daemon(_url(host, port), host, port, manager)
                    finally:
                        if drain:
                            with anyio.CancelScope(shield=True):
                                await manager.drain(settings.jobs.shutdown_grace_s)
        finally:
            with anyio.CancelScope(shield=True):
                await store.aclose()


def check_exposure(host: str, token: str | None) -> None:
    """ConfigError when ``host`` reaches beyond this machine and no token guards the API."""
    if token is None and not _loopback(host):
        raise ConfigError(
            f"refusing to listen on {host} without a token: anyone who can reach it could run "
            "jobs; set FANOUT_TOKEN or [http] token_file, or listen on 127.0.0.1"
        )


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve anywhere


def _bind(host: str, port: int) -> socket.socket:
    try:
        family = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM)[0][0]
        return socket.create_server((host.strip("[]"), port), family=family)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ConfigError(f"cannot listen on {host}:{port}: {reason}") from exc


async def _learn_openssl(crypto: CryptoSettings) -> None:
    """Ask openssl once what it offers, so that a submission naming a cipher or digest it lacks
    is refused at once (400) rather than failing when it runs; a ``[crypto] cipher`` or
    ``digest`` it lacks stops the start. Without openssl the other kinds still run: crypto
    jobs then fail, each saying why."""
    try:
        await openssl_for(crypto)
    except ConfigError as exc:
        API_LOG.warning(line("openssl unavailable, crypto jobs will fail", reason=str(exc)))
        return
    for kind in ("cipher", "digest"):
        try:
            check_algorithm(crypto, kind, getattr(crypto, kind))
        except FanoutError as exc:
            raise ConfigError(f"[crypto] {kind}: {exc}") from exc


async def _open_store(settings: Settings) -> SqliteJobStore:
    storage = settings.storage
    try:
        await anyio.Path(storage.artifacts_dir).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"[storage] artifacts_dir {storage.artifacts_dir!r}: cannot create it: "
            f"{exc.strerror or exc}"
        ) from exc
    try:
        return await SqliteJobStore.open(Path(storage.path), busy_timeout_s=storage.busy_timeout_s)
    except StoreBusy as exc:
        raise ConfigError(
            f"[storage] path {storage.path!r}: {exc} (or raise [storage] busy_timeout_s)"
        ) from exc
    except FanoutError as exc:
        raise ConfigError(f"[storage] path {storage.path!r}: {exc}") from exc


@asynccontextmanager
async def _served(app: web.Application, sock: socket.socket) -> AsyncIterator[int]:
    runner = web.AppRunner(
        app,
        handle_signals=False,
        access_log_class=AccessLog,
        access_log=ACCESS_LOG,
        logger=SERVER_LOG,
        shutdown_timeout=_CLOSE_GRACE_S,
    )
    await runner.setup()
    try:
        await web.SockSite(runner, sock).start()
        yield sock.getsockname()[1]
    finally:
        with anyio.CancelScope(shield=True):
            await runner.cleanup()


def _url(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host and not host.startswith("[") else host
    return f"http://{shown}:{port}"


def _single(group: BaseExceptionGroup) -> BaseException:
    """The one error inside nested groups, so the CLI prints one line; else the group."""
    inner: BaseException = group
    while isinstance(inner, BaseExceptionGroup) and len(inner.exceptions) == 1:
        inner = inner.exceptions[0]
    return inner
