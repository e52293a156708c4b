"""OS pipes for openssl children: sized for throughput, served by the event loop or threads.

A pipe holds 64 KiB by default, so a reader gets at most 64 KiB a call however much it asks
for, and streaming 256 MiB costs 4,000 rounds through Python. Linux lets a pipe hold more
(``F_SETPIPE_SZ``, up to ``/proc/sys/fs/pipe-max-size``, 1 MiB by default): at 1 MiB the
rounds are a sixteenth, and the chain keeps pace with ``openssl enc | tee | openssl dgst``.
The size is a wish; where the system refuses it the pipe keeps its default.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from typing import Final, final

import anyio
from anyio.lowlevel import checkpoint

__all__ = ["LoopPipe", "close_fds", "sized_pipe"]

_SET_SIZE: Final = getattr(fcntl, "F_SETPIPE_SZ", None)


def sized_pipe(size: int) -> tuple[int, int]:
    """A pipe (read end, write end), not inherited by children unless passed to them."""
    read, write = os.pipe()
    if _SET_SIZE is not None and size > 0:
        with contextlib.suppress(OSError):  # past the system's limits: keep the default
            fcntl.fcntl(write, _SET_SIZE, size)
    return read, write


def close_fds(*fds: int) -> None:
    """Close fds, ignoring those already closed."""
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)


@final
class LoopPipe:
    """This process's end of a pipe, read or written by the event loop (non-blocking)."""

    __slots__ = ("_fd",)

    def __init__(self, fd: int) -> None:
        os.set_blocking(fd, False)
        self._fd: int | None = fd

    def __repr__(self) -> str:
        return f"<LoopPipe fd={self._fd}>"

    async def read(self, max_bytes: int) -> bytes:
        """Up to ``max_bytes``; ``b""`` at the end (or once closed)."""
        await checkpoint()  # a pipe that always has data must not starve other tasks
        while (fd := self._fd) is not None:
            try:
                return os.read(fd, max_bytes)
            except BlockingIOError:
                await anyio.wait_readable(fd)
        return b""

    async def write(self, data: bytes) -> None:
        """All of ``data``; BrokenPipeError once the reader has gone."""
        await checkpoint()
        view = memoryview(data)
        while view:
            fd = self._fd
            if fd is None:
                raise BrokenPipeError("the pipe is closed")
            try:
                view = view[os.write(fd, view) :]
            except BlockingIOError:
                await anyio.wait_writable(fd)

    def close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            anyio.notify_closing(fd)  # wakes a task waiting on it, instead of leaving it stuck
            close_fds(fd)
