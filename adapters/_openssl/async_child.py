"""Children the event loop serves: their pipes and their exit, each one an fd it waits on.

A child is started by ``subprocess.Popen`` on the loop's thread (as asyncio's own subprocess
support starts one; with ``vfork`` it costs a fraction of a millisecond) and its exit is
awaited on a pidfd (``os.pidfd_open``, Linux 5.3): readable once the child has exited, then
reaped with a ``wait`` that returns at once. Nothing else is involved: no asyncio transport or
protocol, no child watcher (on Python 3.11 asyncio's default watcher starts a thread a child),
so a chain of two children costs what the book's two ``Popen`` calls cost, and the same code
serves asyncio and trio.

The pipes are this package's own, sized for throughput (see :mod:`.pipes`), each one read or
written by the event loop without blocking (:class:`~.pipes.LoopPipe`).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Sequence
from typing import Any, final

import anyio

from adapters._openssl.children import Child, ChildGone, Ends, PipeSpawner, ProcessChild
from adapters._openssl.pipes import LoopPipe, close_fds

__all__ = ["AsyncChild", "AsyncSpawner"]


@final
class AsyncSpawner(PipeSpawner):
    """Children started by ``Popen``, their pipes and pidfds watched by the event loop."""

    __slots__ = ()

    async def spawn(
        self, argv: Sequence[str], *, role: str, stdin: int, stdout: int, pass_fds: Sequence[int]
    ) -> Child:
        ends = Ends(stdin, stdout, self._pipe_bytes)
        options = ends.options(pass_fds)

        async def start() -> subprocess.Popen[bytes]:
            return _popen(list(argv), options)

        process = await ends.launch(start)
        return AsyncChild(role, process, ends)


def _popen(argv: list[str], options: dict[str, Any]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(argv, close_fds=True, **options)


@final
class AsyncChild(ProcessChild["subprocess.Popen[bytes]"]):
    __slots__ = ("_exit", "_reaping", "_stderr", "_stdin", "_stdout")

    def __init__(self, role: str, process: subprocess.Popen[bytes], ends: Ends) -> None:
        super().__init__(role, process)
        self._stdin = None if ends.stdin is None else LoopPipe(ends.stdin)
        self._stdout = None if ends.stdout is None else LoopPipe(ends.stdout)
        assert ends.stderr is not None
        self._stderr = LoopPipe(ends.stderr)
        self._exit: int | None = os.pidfd_open(process.pid)
        self._reaping = anyio.Lock()  # one task waits on the pidfd at a time

    @property
    def pipe_fds(self) -> tuple[int | None, int | None]:
        """This side of the child's stdin and stdout, for the kernel to move data through."""
        return (
            None if self._stdin is None else self._stdin.fileno(),
            None if self._stdout is None else self._stdout.fileno(),
        )

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
        async with self._reaping:
            while (code := self._process.poll()) is None:
                if self._exit is None:  # closed before the child ended: block a thread on it
                    return await anyio.to_thread.run_sync(self._process.wait)
                await anyio.wait_readable(self._exit)
            return code

    def send_signal(self, sig: signal.Signals) -> None:
        # Until this process reaps the child (wait, poll) its pid cannot be reused: a signal
        # by pidfd reaches that child and no other, and a zombie ignores it.
        if self._process.returncode is None and self._exit is not None:
            with contextlib.suppress(ProcessLookupError):
                signal.pidfd_send_signal(self._exit, sig)

    async def aclose(self) -> None:
        for pipe in (self._stdin, self._stdout, self._stderr):
            if pipe is not None:
                pipe.close()
        exit_fd, self._exit = self._exit, None
        if exit_fd is not None:
            anyio.notify_closing(exit_fd)
            close_fds(exit_fd)
