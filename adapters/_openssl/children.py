"""An openssl child process behind one small async interface, with two ways to run it.

- :class:`AsyncSpawner` starts children with ``anyio.open_process``: the event loop waits on
  their pipes.
- :class:`ThreadSpawner` starts them with blocking ``subprocess.Popen`` and does every pipe
  read, write and wait on a worker thread (``anyio.to_thread``): the fallback for an event loop
  that cannot watch child processes. Each chain gets its own threads, so one chain's blocked
  reads can never starve another chain's writes of a thread.

Both are stopped the same way (:func:`stop`): SIGTERM, a grace period, SIGKILL, reaped.
Children start in a session of their own, so a Ctrl-C on the terminal reaches this process
only, and this process decides how its children end.
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import subprocess
import threading
from collections.abc import Callable, Sequence
from typing import Final, Protocol, TypeVar, final

import anyio
from anyio import CapacityLimiter, to_thread
from anyio.abc import ByteReceiveStream, Process

__all__ = [
    "PIPE",
    "AsyncSpawner",
    "Child",
    "ChildGone",
    "Spawner",
    "ThreadSpawner",
    "close_fds",
    "stop",
]

PIPE: Final = subprocess.PIPE
T = TypeVar("T")

# Blocking operations one chain's children may have in flight at once: a write and a read of
# each child's pipes, both stderr drains and both waits.
_THREADS_PER_CHAIN: Final = 12


class ChildGone(Exception):
    """Raised when a child's stdin is closed under a write: it exited or was killed."""


class Child(Protocol):
    """One running openssl command: its pipes, its exit status, signals."""

    @property
    def role(self) -> str:
        """``enc`` or ``dgst``: how errors name it."""
        ...

    @property
    def pid(self) -> int: ...

    @property
    def returncode(self) -> int | None: ...

    async def write(self, data: bytes) -> None:
        """Write all of ``data`` to stdin; :class:`ChildGone` when the child no longer reads."""
        ...

    async def close_stdin(self) -> None: ...

    async def read(self, max_bytes: int) -> bytes:
        """Up to ``max_bytes`` of stdout; ``b""`` at its end."""
        ...

    async def read_stderr(self, max_bytes: int) -> bytes: ...

    async def wait(self) -> int: ...

    def send_signal(self, sig: signal.Signals) -> None:
        """Signal the child if it has not been reaped yet."""
        ...

    async def aclose(self) -> None:
        """Close this side of every pipe (call after the child is reaped)."""
        ...


class Spawner(Protocol):
    """Starts a :class:`Child`; ``stdin`` / ``stdout`` are :data:`PIPE` or an OS pipe's fd."""

    async def spawn(
        self, argv: Sequence[str], *, role: str, stdin: int, stdout: int, pass_fds: Sequence[int]
    ) -> Child: ...


@final
class AsyncSpawner:
    """Children on ``anyio.open_process``."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "AsyncSpawner()"

    async def spawn(
        self, argv: Sequence[str], *, role: str, stdin: int, stdout: int, pass_fds: Sequence[int]
    ) -> Child:
        process = await anyio.open_process(
            list(argv),
            stdin=stdin,
            stdout=stdout,
            stderr=PIPE,
            pass_fds=tuple(pass_fds),
            start_new_session=True,
        )
        return _AsyncChild(role, process)


@final
class _AsyncChild:
    __slots__ = ("_process", "role")

    def __init__(self, role: str, process: Process) -> None:
        self.role = role
        self._process = process

    def __repr__(self) -> str:
        return f"<openssl {self.role} pid={self.pid} returncode={self.returncode}>"

    @property
    def pid(self) -> int:
        return self._process.pid

    @property
    def returncode(self) -> int | None:
        return self._process.returncode

    async def write(self, data: bytes) -> None:
        assert self._process.stdin is not None
        try:
            await self._process.stdin.send(data)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError) as exc:
            raise ChildGone(f"openssl {self.role} closed its input") from exc

    async def close_stdin(self) -> None:
        if self._process.stdin is not None:
            # A child gone already cannot be told the input ended: its exit status says why.
            with contextlib.suppress(anyio.BrokenResourceError, OSError):
                await self._process.stdin.aclose()

    async def read(self, max_bytes: int) -> bytes:
        return await _receive(self._process.stdout, max_bytes)

    async def read_stderr(self, max_bytes: int) -> bytes:
        return await _receive(self._process.stderr, max_bytes)

    async def wait(self) -> int:
        return await self._process.wait()

    def send_signal(self, sig: signal.Signals) -> None:
        if self._process.returncode is None:
            # It may exit between the check and the signal; wait() reaps it either way.
            with contextlib.suppress(ProcessLookupError):
                self._process.send_signal(sig)

    async def aclose(self) -> None:
        for stream in (self._process.stdin, self._process.stdout, self._process.stderr):
            if stream is not None:
                with contextlib.suppress(anyio.BrokenResourceError, OSError):
                    await stream.aclose()


async def _receive(stream: ByteReceiveStream | None, max_bytes: int) -> bytes:
    assert stream is not None
    try:
        return await stream.receive(max_bytes)
    except (anyio.EndOfStream, anyio.ClosedResourceError):
        return b""


@final
class ThreadSpawner:
    """Children on blocking ``subprocess.Popen``, their pipes served by worker threads."""

    __slots__ = ("_limiter",)

    def __init__(self) -> None:
        # One spawner serves one chain (see the module docstring).
        self._limiter = CapacityLimiter(_THREADS_PER_CHAIN)

    def __repr__(self) -> str:
        return "ThreadSpawner()"

    async def spawn(
        self, argv: Sequence[str], *, role: str, stdin: int, stdout: int, pass_fds: Sequence[int]
    ) -> Child:
        def start() -> subprocess.Popen[bytes]:
            return subprocess.Popen(
                list(argv),
                stdin=stdin,
                stdout=stdout,
                stderr=PIPE,
                pass_fds=tuple(pass_fds),
                bufsize=0,
                start_new_session=True,
            )

        return _ThreadChild(role, await to_thread.run_sync(start, limiter=self._limiter), self)

    async def run(self, call: Callable[[], T], busy: _Busy) -> T:
        """Run a blocking pipe operation on a worker thread, abandoned if cancelled.

        Abandoned, because a read or write blocked on a live child cannot be interrupted: it
        ends when :func:`stop` kills the child (EOF or a broken pipe), and ``busy`` lets the
        child's ``aclose`` wait for that before it closes the pipes.
        """

        def tracked() -> T:
            try:
                return call()
            finally:
                busy.leave()

        busy.enter()
        return await to_thread.run_sync(tracked, abandon_on_cancel=True, limiter=self._limiter)


@final
class _Busy:
    """How many blocking operations on one child's pipes are still running."""

    __slots__ = ("_count", "_idle")

    def __init__(self) -> None:
        self._count = 0
        self._idle = threading.Condition()

    def enter(self) -> None:
        with self._idle:
            self._count += 1

    def leave(self) -> None:
        with self._idle:
            self._count -= 1
            self._idle.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        with self._idle:
            return self._idle.wait_for(lambda: self._count == 0, timeout)


# How long aclose waits for abandoned pipe operations; they end as soon as the child is dead.
_IDLE_WAIT_S: Final = 5.0


@final
class _ThreadChild:
    __slots__ = ("_busy", "_popen", "_spawner", "role")

    def __init__(self, role: str, popen: subprocess.Popen[bytes], spawner: ThreadSpawner) -> None:
        self.role = role
        self._popen = popen
        self._spawner = spawner
        self._busy = _Busy()

    def __repr__(self) -> str:
        return f"<openssl {self.role} pid={self.pid} returncode={self.returncode}>"

    @property
    def pid(self) -> int:
        return self._popen.pid

    @property
    def returncode(self) -> int | None:
        return self._popen.returncode

    async def write(self, data: bytes) -> None:
        stdin = self._popen.stdin
        assert stdin is not None

        def write_all() -> None:
            view = memoryview(data)
            while view:
                view = view[stdin.write(view) or 0 :]

        try:
            await self._spawner.run(write_all, self._busy)
        except (OSError, ValueError) as exc:  # BrokenPipeError; ValueError: closed meanwhile
            raise ChildGone(f"openssl {self.role} closed its input") from exc

    async def close_stdin(self) -> None:
        if self._popen.stdin is not None:
            # A child gone already cannot be told the input ended: its exit status says why.
            with contextlib.suppress(OSError):
                self._popen.stdin.close()

    async def read(self, max_bytes: int) -> bytes:
        return await self._read(self._popen.stdout, max_bytes)

    async def read_stderr(self, max_bytes: int) -> bytes:
        return await self._read(self._popen.stderr, max_bytes)

    async def _read(self, stream: object, max_bytes: int) -> bytes:
        assert isinstance(stream, io.RawIOBase)
        try:
            return await self._spawner.run(lambda: stream.read(max_bytes) or b"", self._busy)
        except (OSError, ValueError):
            return b""

    async def wait(self) -> int:
        return await self._spawner.run(self._popen.wait, self._busy)

    def send_signal(self, sig: signal.Signals) -> None:
        # Popen.send_signal polls first and does nothing once the child has been reaped, so
        # a recycled pid never gets the signal.
        self._popen.send_signal(sig)

    async def aclose(self) -> None:
        busy = self._busy
        await to_thread.run_sync(lambda: busy.wait_idle(_IDLE_WAIT_S))
        for stream in (self._popen.stdin, self._popen.stdout, self._popen.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()


async def stop(child: Child, *, grace_s: float) -> None:
    """End ``child`` if it still runs (SIGTERM, ``grace_s``, SIGKILL), reap it, close its pipes.

    Call it shielded: a cancelled caller must still reap its children.
    """
    if child.returncode is None:
        child.send_signal(signal.SIGTERM)
        with anyio.move_on_after(grace_s):
            await child.wait()
        if child.returncode is None:
            child.send_signal(signal.SIGKILL)
            await child.wait()
    await child.aclose()


def close_fds(*fds: int) -> None:
    """Close OS pipe ends this process handed to children (it must not hold them open)."""
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)
