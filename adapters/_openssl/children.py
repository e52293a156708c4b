"""An openssl child process behind one small async interface, with two ways to run it.

- :class:`AsyncSpawner` starts children with ``anyio.open_process``: the event loop waits on
  their pipes (this module's own, sized for throughput: see :mod:`.pipes`).
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
import os
import signal
import subprocess
import threading
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import Any, Final, Protocol, TypeVar, final

import anyio
from anyio import CapacityLimiter, to_thread
from anyio.abc import Process

from adapters._openssl.pipes import LoopPipe, close_fds, sized_pipe

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
# each child's pipes, both stderr drains and both waits, and room for abandoned ones.
_THREADS_PER_CHAIN: Final = 12
_STDERR_PIPE: Final = 0  # the default size: openssl writes a few lines there


class _Ends:
    """The pipes of one child being started: the child's ends and ours."""

    __slots__ = ("child", "stderr", "stdin", "stdout", "theirs")

    def __init__(self, stdin: int, stdout: int, size: int) -> None:
        self.theirs: list[int] = []
        self.stdin, child_stdin = self._make(stdin, size, ours_reads=False)
        self.stdout, child_stdout = self._make(stdout, size, ours_reads=True)
        self.stderr, child_stderr = self._make(PIPE, _STDERR_PIPE, ours_reads=True)
        self.child = (child_stdin, child_stdout, child_stderr)

    def _make(self, given: int, size: int, *, ours_reads: bool) -> tuple[int | None, int]:
        if given != PIPE:
            return None, given  # an fd the caller owns (a file, the pipe between two children)
        read, write = sized_pipe(size)
        ours, theirs = (read, write) if ours_reads else (write, read)
        self.theirs.append(theirs)
        return ours, theirs

    def ours(self) -> list[int]:
        return [fd for fd in (self.stdin, self.stdout, self.stderr) if fd is not None]

    def options(self, pass_fds: Sequence[int]) -> dict[str, Any]:
        """How to start the child, for ``subprocess.Popen`` and ``anyio.open_process`` alike."""
        stdin, stdout, stderr = self.child
        return {
            "stdin": stdin,
            "stdout": stdout,
            "stderr": stderr,
            "pass_fds": tuple(pass_fds),
            "start_new_session": True,
        }

    async def launch(self, start: Callable[[], Awaitable[T]]) -> T:
        """Start the child; then the child's ends are its own, and ours close if it failed."""
        try:
            return await start()
        except BaseException:
            close_fds(*self.ours())
            raise
        finally:
            close_fds(*self.theirs)


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
    """Starts a :class:`Child`; ``stdin`` / ``stdout`` are :data:`PIPE` or an fd to hand over.

    The caller keeps (and closes) an fd it hands over; pipes made for :data:`PIPE` belong to
    the child object and close with it.
    """

    async def spawn(
        self, argv: Sequence[str], *, role: str, stdin: int, stdout: int, pass_fds: Sequence[int]
    ) -> Child: ...


@final
class AsyncSpawner:
    """Children on ``anyio.open_process``, their pipes watched by the event loop."""

    __slots__ = ("_pipe_bytes",)

    def __init__(self, *, pipe_bytes: int = 1024 * 1024) -> None:
        self._pipe_bytes = pipe_bytes

    def __repr__(self) -> str:
        return f"AsyncSpawner(pipe_bytes={self._pipe_bytes})"

    async def spawn(
        self, argv: Sequence[str], *, role: str, stdin: int, stdout: int, pass_fds: Sequence[int]
    ) -> Child:
        ends = _Ends(stdin, stdout, self._pipe_bytes)
        process = await ends.launch(
            partial(anyio.open_process, list(argv), **ends.options(pass_fds))
        )
        return _AsyncChild(role, process, ends)


@final
class _AsyncChild:
    __slots__ = ("_process", "_stderr", "_stdin", "_stdout", "role")

    def __init__(self, role: str, process: Process, ends: _Ends) -> None:
        self.role = role
        self._process = process
        self._stdin = None if ends.stdin is None else LoopPipe(ends.stdin)
        self._stdout = None if ends.stdout is None else LoopPipe(ends.stdout)
        assert ends.stderr is not None
        self._stderr = LoopPipe(ends.stderr)

    def __repr__(self) -> str:
        return f"<openssl {self.role} pid={self.pid} returncode={self.returncode}>"

    @property
    def pid(self) -> int:
        return self._process.pid

    @property
    def returncode(self) -> int | None:
        return self._process.returncode

    async def write(self, data: bytes) -> None:
        assert self._stdin is not None
        try:
            await self._stdin.write(data)
        except OSError as exc:  # BrokenPipeError: the child no longer reads
            raise ChildGone(f"openssl {self.role} closed its input") from exc

    async def close_stdin(self) -> None:
        if self._stdin is not None:
            self._stdin.close()

    async def read(self, max_bytes: int) -> bytes:
        assert self._stdout is not None
        return await self._stdout.read(max_bytes)

    async def read_stderr(self, max_bytes: int) -> bytes:
        return await self._stderr.read(max_bytes)

    async def wait(self) -> int:
        return await self._process.wait()

    def send_signal(self, sig: signal.Signals) -> None:
        if self._process.returncode is None:
            # It may exit between the check and the signal; wait() reaps it either way.
            with contextlib.suppress(ProcessLookupError):
                self._process.send_signal(sig)

    async def aclose(self) -> None:
        for pipe in (self._stdin, self._stdout, self._stderr):
            if pipe is not None:
                pipe.close()
        await self._process.aclose()


@final
class ThreadSpawner:
    """Children on blocking ``subprocess.Popen``, their pipes served by worker threads."""

    __slots__ = ("_limiter", "_pipe_bytes")

    def __init__(self, *, pipe_bytes: int = 1024 * 1024) -> None:
        # One spawner serves one chain (see the module docstring).
        self._limiter = CapacityLimiter(_THREADS_PER_CHAIN)
        self._pipe_bytes = pipe_bytes

    def __repr__(self) -> str:
        return f"ThreadSpawner(pipe_bytes={self._pipe_bytes})"

    async def spawn(
        self, argv: Sequence[str], *, role: str, stdin: int, stdout: int, pass_fds: Sequence[int]
    ) -> Child:
        ends = _Ends(stdin, stdout, self._pipe_bytes)

        def start() -> subprocess.Popen[bytes]:
            return subprocess.Popen(list(argv), **ends.options(pass_fds))

        popen = await ends.launch(partial(to_thread.run_sync, start, limiter=self._limiter))
        return _ThreadChild(role, popen, ends, self)

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
    __slots__ = ("_busy", "_ends", "_popen", "_spawner", "role")

    def __init__(
        self, role: str, popen: subprocess.Popen[bytes], ends: _Ends, spawner: ThreadSpawner
    ) -> None:
        self.role = role
        self._popen = popen
        self._ends = ends
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
        fd = self._ends.stdin
        assert fd is not None

        def write_all() -> None:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]

        try:
            await self._spawner.run(write_all, self._busy)
        except OSError as exc:  # BrokenPipeError: the child no longer reads
            raise ChildGone(f"openssl {self.role} closed its input") from exc

    async def close_stdin(self) -> None:
        fd, self._ends.stdin = self._ends.stdin, None
        if fd is not None:
            close_fds(fd)

    async def read(self, max_bytes: int) -> bytes:
        return await self._read(self._ends.stdout, max_bytes)

    async def read_stderr(self, max_bytes: int) -> bytes:
        return await self._read(self._ends.stderr, max_bytes)

    async def _read(self, fd: int | None, max_bytes: int) -> bytes:
        if fd is None:
            return b""
        try:
            return await self._spawner.run(lambda: os.read(fd, max_bytes), self._busy)
        except OSError:
            return b""

    async def wait(self) -> int:
        return await self._spawner.run(self._popen.wait, self._busy)

    def send_signal(self, sig: signal.Signals) -> None:
        # Popen.send_signal polls first and does nothing once the child has been reaped, so
        # a recycled pid never gets the signal.
        self._popen.send_signal(sig)

    async def aclose(self) -> None:
        busy = self._busy
        # Abandoned reads and writes end once the child is dead (EOF, broken pipe); only then
        # may their fds close, or a stale thread could touch a recycled fd number.
        await to_thread.run_sync(lambda: busy.wait_idle(_IDLE_WAIT_S))
        close_fds(*self._ends.ours())
        self._ends.stdin = self._ends.stdout = self._ends.stderr = None


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
