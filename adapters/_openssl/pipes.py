"""OS pipes for openssl children: sized for throughput, served by the event loop or threads.

A pipe holds 64 KiB by default, so a reader gets at most 64 KiB a call however much it asks
for, and streaming 256 MiB costs 4,000 rounds through Python. Linux lets a pipe hold more
(``F_SETPIPE_SZ``, up to ``/proc/sys/fs/pipe-max-size``, 1 MiB by default): at 1 MiB the
rounds are a sixteenth, and the chain keeps pace with ``openssl enc | tee | openssl dgst``.
The size is a wish; where the system refuses it the pipe keeps its default.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import os
from functools import partial
from typing import Final, final

import anyio
from anyio.lowlevel import checkpoint

from adapters._openssl.errors import OutputFailed

__all__ = ["LoopPipe", "close_fds", "move_into_file", "sized_pipe"]

_SET_SIZE: Final = getattr(fcntl, "F_SETPIPE_SZ", None)


def _find_tee() -> ctypes._NamedFuncPointer | None:
    """libc's ``tee(2)`` (Linux): it duplicates a pipe's data into another pipe without
    consuming it, by reference. The standard library has ``os.splice`` but no ``os.tee``."""
    if not hasattr(os, "splice"):
        return None
    try:
        call = ctypes.CDLL(None, use_errno=True).tee
    except (OSError, AttributeError):
        return None
    call.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_size_t, ctypes.c_uint]
    call.restype = ctypes.c_ssize_t
    return call


_TEE: Final = _find_tee()


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

    def fileno(self) -> int | None:
        return self._fd


async def move_into_file(
    source: int, file_fd: int, copy_to: int | None, max_bytes: int
) -> int | None:
    """Move everything the pipe ``source`` yields into the file ``file_fd``, and a copy of it
    into the pipe ``copy_to`` if given, by the kernel alone: ``tee(2)`` duplicates what the
    pipe holds into ``copy_to``, ``os.splice`` moves the same bytes into the file. No byte is
    copied into this process, and the event loop is not woken for each piece: one worker
    thread blocks in the two calls (which release the GIL) until the source ends. The byte
    count; None, having moved nothing, where the system has no ``tee`` (the caller copies
    instead). Every local file system takes a ``splice``.

    The thread works on duplicates of the descriptors, which it closes itself, so a caller
    that is cancelled may leave it behind: it ends as soon as the children are stopped (the
    source's end, or a broken copy), never writing into a descriptor reused meanwhile.
    """
    if copy_to is not None and _TEE is None:
        return None
    move = partial(
        _move,
        max_bytes,
        os.dup(source),
        os.dup(file_fd),
        None if copy_to is None else os.dup(copy_to),
    )
    return await anyio.to_thread.run_sync(move, abandon_on_cancel=True, limiter=_movers())


def _move(max_bytes: int, source: int, file_fd: int, copy_to: int | None) -> int:
    """The blocking loop of :func:`move_into_file`, on descriptors of its own."""
    moved = 0
    pipes = [fd for fd in (source, copy_to) if fd is not None]
    # The blocking flag belongs to the pipe, shared with its owner's descriptor: set, then
    # given back as it was (the event loop's ends are non-blocking, the threads' blocking).
    was = {fd: os.get_blocking(fd) for fd in pipes}
    try:
        for fd in pipes:
            os.set_blocking(fd, True)
        while True:
            if copy_to is None:
                count = _into_file(source, file_fd, max_bytes)
            else:
                assert _TEE is not None
                count = int(_TEE(source, copy_to, max_bytes, 0))
                if count < 0:
                    error = ctypes.get_errno()
                    raise OSError(error, os.strerror(error))
                left = count
                while left:
                    left -= _into_file(source, file_fd, left)
            if count == 0:
                return moved
            moved += count
    finally:
        for fd, blocking in was.items():
            with contextlib.suppress(OSError):
                os.set_blocking(fd, blocking)
        close_fds(source, file_fd, *(() if copy_to is None else (copy_to,)))


def _into_file(source: int, file_fd: int, count: int) -> int:
    try:
        return os.splice(source, file_fd, count)
    except OSError as exc:
        raise OutputFailed(exc) from exc


_MOVERS: Final = anyio.lowlevel.RunVar[anyio.CapacityLimiter]("movers")


def _movers() -> anyio.CapacityLimiter:
    """The threads that move files' bytes: their own, so that long moves never take the
    threads the rest of the program's ``to_thread`` calls need."""
    try:
        return _MOVERS.get()
    except LookupError:
        limiter = anyio.CapacityLimiter(64)
        _MOVERS.set(limiter)
        return limiter
