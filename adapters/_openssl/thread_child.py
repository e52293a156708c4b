"""Children on blocking ``subprocess.Popen``, their pipes served by worker threads.

Every pipe read, write and wait runs on a worker thread (``anyio.to_thread``): the fallback for
an event loop that cannot watch child processes. Each chain gets its own threads (one
:class:`ThreadSpawner` serves one chain), so one chain's blocked reads can never starve another
chain's writes of a thread.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from collections.abc import Callable, Sequence
from functools import partial
from typing import Final, TypeVar, final

from anyio import CapacityLimiter, to_thread

from adapters._openssl.children import Child, ChildGone, Ends, PipeSpawner, ProcessChild
from adapters._openssl.pipes import close_fds

__all__ = ["ThreadSpawner"]

T = TypeVar("T")

# Blocking operations one chain's children may have in flight at once: a write and a read of
# each child's pipes, both stderr drains and both waits, and room for abandoned ones.
_THREADS_PER_CHAIN: Final = 12


@final
class ThreadSpawner(PipeSpawner):
    """Children on blocking ``subprocess.Popen``, their pipes served by worker threads."""

    __slots__ = ("_limiter",)

    def __init__(self, *, pipe_bytes: int = 1024 * 1024) -> None:
        super().__init__(pipe_bytes=pipe_bytes)
        # One spawner serves one chain (see the module docstring).
        self._limiter = CapacityLimiter(_THREADS_PER_CHAIN)

    async def spawn(
        self, argv: Sequence[str], *, role: str, stdin: int, stdout: int, pass_fds: Sequence[int]
    ) -> Child:
        ends = Ends(stdin, stdout, self._pipe_bytes)

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

        # The operation counts as busy from here. Cancelled before a thread took it up (still
        # waiting for the limiter, or queued), it never runs, and must stop counting now, or
        # aclose would wait out _IDLE_WAIT_S for an operation that will never end. Whichever
        # of the two comes first, the thread starting it or the cancel, decides, under a lock.
        state = _Operation()

        def tracked() -> T:
            if not state.start():
                raise RuntimeError("a cancelled pipe operation was started after all")
            try:
                return call()
            finally:
                busy.leave()

        busy.enter()
        try:
            return await to_thread.run_sync(tracked, abandon_on_cancel=True, limiter=self._limiter)
        except BaseException:
            if state.skip():
                busy.leave()
            raise


@final
class _Operation:
    """One pipe operation handed to a thread: started by it, or skipped by a cancel, once."""

    __slots__ = ("_lock", "_state")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state = "waiting"

    def start(self) -> bool:
        """The thread takes it up; False if it was skipped meanwhile."""
        return self._settle("started")

    def skip(self) -> bool:
        """The caller gives it up; False if a thread has started it (it will end on its own)."""
        return self._settle("skipped")

    def _settle(self, state: str) -> bool:
        with self._lock:
            if self._state != "waiting":
                return False
            self._state = state
            return True


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
class _ThreadChild(ProcessChild[subprocess.Popen[bytes]]):
    __slots__ = ("_busy", "_ends", "_spawner")

    def __init__(
        self, role: str, popen: subprocess.Popen[bytes], ends: Ends, spawner: ThreadSpawner
    ) -> None:
        super().__init__(role, popen)
        self._ends = ends
        self._spawner = spawner
        self._busy = _Busy()

    @property
    def pipe_fds(self) -> tuple[int | None, int | None]:
        """This side of the child's stdin and stdout, for the kernel to move data through."""
        return self._ends.stdin, self._ends.stdout

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
        return await self._spawner.run(self._process.wait, self._busy)

    def send_signal(self, sig: signal.Signals) -> None:
        # Popen.send_signal polls first and does nothing once the child has been reaped, so
        # a recycled pid never gets the signal.
        self._process.send_signal(sig)

    async def aclose(self) -> None:
        busy = self._busy
        # Abandoned reads and writes end once the child is dead (EOF, broken pipe); only then
        # may their fds close, or a stale thread could touch a recycled fd number.
        await to_thread.run_sync(lambda: busy.wait_idle(_IDLE_WAIT_S))
        close_fds(*self._ends.ours())
        self._ends.stdin = self._ends.stdout = self._ends.stderr = None
