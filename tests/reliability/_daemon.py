"""``fanout serve`` as a real process, for the reliability tests and the load and soak benches.

::

    async with spawned(tmp_path, {"FANOUT_JOBS__SHUTDOWN_GRACE_S": "2"}) as daemon:
        async with Client(daemon.url) as client:
            ...
        code = await daemon.stop(signal.SIGTERM, within_s=10)

The daemon runs in a session of its own (``start_new_session``), so that whatever it starts
— openssl children, process-pool workers — can be found after it has gone: :meth:`survivors`.
Its store and artifacts live under ``directory``; every line it writes to stderr is kept in
``lines``. ``limits`` sets resource limits (``resource.RLIMIT_*``) in the daemon before it
starts, e.g. ``{resource.RLIMIT_FSIZE: 1 << 20}`` for a disk that fills up.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import anyio
from anyio.abc import Process

from service.system.processes import session

__all__ = ["READY", "Spawned", "fanout_environment", "spawned"]

READY: Final = "fanout: serving on "
_START_S: Final = 60.0
# Sets the limits given as "RESOURCE=SOFT:HARD" arguments, then becomes `fanout serve`.
_WITH_LIMITS: Final = (
    "import os, resource, sys\n"
    "while sys.argv[1] != '--':\n"
    "    name, value = sys.argv.pop(1).split('=')\n"
    "    soft, hard = map(int, value.split(':'))\n"
    "    resource.setrlimit(int(name), (soft, hard))\n"
    "os.execv(sys.executable, [sys.executable, *sys.argv[2:]])\n"
)


def fanout_environment(**variables: str) -> dict[str, str]:
    """This environment without the machine's ``FANOUT_*`` variables, plus ``variables``."""
    kept = {key: value for key, value in os.environ.items() if not key.startswith("FANOUT_")}
    return {**kept, **variables}


@dataclass
class Spawned:
    """A running ``fanout serve``: its process, address, files and what it has said."""

    process: Process
    url: str
    directory: Path
    lines: list[str] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def store(self) -> Path:
        return self.directory / "fanout.sqlite3"

    @property
    def artifacts(self) -> Path:
        return self.directory / "artifacts"

    @property
    def log(self) -> str:
        return "\n".join(self.lines)

    async def stop(self, number: signal.Signals = signal.SIGTERM, *, within_s: float) -> int:
        """Send ``number`` and wait for the exit status; fail if it takes over ``within_s``."""
        self.process.send_signal(number)
        with anyio.fail_after(within_s):
            return await self.process.wait()

    def survivors(self) -> list[int]:
        """Processes of the daemon's session still alive (its own included, until it ends)."""
        return session(self.pid)


@asynccontextmanager
async def spawned(
    directory: Path,
    variables: Mapping[str, str] | None = None,
    *,
    limits: Mapping[int, tuple[int, int]] | None = None,
    echo: bool = True,
) -> AsyncIterator[Spawned]:
    """``fanout serve --port 0`` with its store under ``directory`` and ``variables`` set.

    Leaving the block kills the daemon and every process of its session if they still run,
    and prints its log (for pytest to show when a test fails) unless ``echo`` is false.
    """
    env = fanout_environment(
        FANOUT_STORAGE__PATH=str(directory / "fanout.sqlite3"),
        FANOUT_STORAGE__ARTIFACTS_DIR=str(directory / "artifacts"),
        **(variables or {}),
    )
    command = [sys.executable, "-m", "service", "serve", "--host", "127.0.0.1", "--port", "0"]
    if limits:
        settings = [f"{name}={soft}:{hard}" for name, (soft, hard) in limits.items()]
        command = [sys.executable, "-c", _WITH_LIMITS, *settings, "--", *command[1:]]
    process = await anyio.open_process(
        command, cwd=directory, env=env, stdin=None, stdout=None, start_new_session=True
    )
    daemon = Spawned(process, "", directory)
    ready = anyio.Event()
    try:
        async with anyio.create_task_group() as group:
            group.start_soon(_read_lines, daemon, ready)
            with anyio.fail_after(_START_S):
                await ready.wait()
            served = [line for line in daemon.lines if line.startswith(READY)]
            if not served:
                raise RuntimeError(f"the daemon did not start:\n{daemon.log}")
            daemon.url = served[0].removeprefix(READY)
            try:
                yield daemon
            finally:
                _kill_session(daemon.pid)
                with anyio.CancelScope(shield=True):
                    await process.wait()
    finally:
        _kill_session(daemon.pid)
        await process.aclose()
        if echo:
            print(daemon.log)  # pytest shows it when the test fails


async def _read_lines(daemon: Spawned, ready: anyio.Event) -> None:
    stream = daemon.process.stderr
    assert stream is not None
    pending = b""
    async for chunk in stream:
        pending += chunk
        *done, pending = pending.split(b"\n")
        for raw in done:
            text = raw.decode(errors="replace")
            daemon.lines.append(text)
            if text.startswith(READY):
                ready.set()
    ready.set()  # it ended without serving: spawned() says so


def _kill_session(leader: int) -> None:
    for pid in session(leader):
        with suppress(ProcessLookupError):  # gone meanwhile
            os.kill(pid, signal.SIGKILL)
