"""Children on ``anyio.open_process``: the event loop waits on their pipes.

The pipes are this package's own, sized for throughput (see :mod:`.pipes`), each one read or
written by the event loop without blocking (:class:`~.pipes.LoopPipe`).
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Sequence
from functools import partial
from typing import final

import anyio
from anyio.abc import Process

from adapters._openssl.children import Child, ChildGone, Ends, PipeSpawner, ProcessChild
from adapters._openssl.pipes import LoopPipe

__all__ = ["AsyncSpawner"]


@final
class AsyncSpawner(PipeSpawner):
    """Children on ``anyio.open_process``, their pipes watched by the event loop."""

    __slots__ = ()

    async def spawn(
        self, argv: Sequence[str], *, role: str, stdin: int, stdout: int, pass_fds: Sequence[int]
    ) -> Child:
        ends = Ends(stdin, stdout, self._pipe_bytes)
        process = await ends.launch(
            partial(anyio.open_process, list(argv), **ends.options(pass_fds))
        )
        return _AsyncChild(role, process, ends)


@final
class _AsyncChild(ProcessChild[Process]):
    __slots__ = ("_stderr", "_stdin", "_stdout")

    def __init__(self, role: str, process: Process, ends: Ends) -> None:
        super().__init__(role, process)
        self._stdin = None if ends.stdin is None else LoopPipe(ends.stdin)
        self._stdout = None if ends.stdout is None else LoopPipe(ends.stdout)
        assert ends.stderr is not None
        self._stderr = LoopPipe(ends.stderr)

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
            # os.kill, not the process object's send_signal: on Python 3.11 that is Popen's,
            # which polls first, and the poll reaps a child that has just exited behind
            # asyncio's child watcher (its thread then logs "Unknown child process pid N"
            # to the user's terminal and reports 255). Until the watcher reaps the child its
            # pid cannot be reused, so signalling it is safe; a zombie ignores the signal.
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)

    async def aclose(self) -> None:
        for pipe in (self._stdin, self._stdout, self._stderr):
            if pipe is not None:
                pipe.close()
        await self._process.aclose()
