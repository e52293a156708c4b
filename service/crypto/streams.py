"""Where a crypto job's bytes come from and go to: files, anyio streams, iterators, bytes.

An output file is written beside its final name and renamed into place only when the job
succeeds, so a failed, timed-out or cancelled job never leaves a partial file behind.
"""

from __future__ import annotations

import os
import stat
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TypeAlias

import anyio
from anyio.abc import ByteReceiveStream, ByteSendStream

from adapters.openssl import SMALL_INPUT_BYTES, InputBytes, InputFile, OutputFailed, OutputFile
from service.errors import FanoutError, InvalidInput
from service.system.files import atomic_writer, refuse_write

__all__ = ["Source", "Target", "opened_source", "opened_target"]

Source: TypeAlias = "str | os.PathLike[str] | bytes | ByteReceiveStream | AsyncIterable[bytes]"
"""A path, bytes, an anyio byte stream, or any async iterable of byte chunks."""

Target: TypeAlias = "str | os.PathLike[str] | ByteSendStream | Callable[[bytes], Awaitable[object]]"
"""A path (written atomically), an anyio byte stream, or an async callable taking chunks."""

Write = Callable[[bytes], Awaitable[object]]


@asynccontextmanager
async def opened_source(
    source: Source, chunk_bytes: int
) -> AsyncIterator[AsyncIterable[bytes] | InputFile | InputBytes]:
    """The source as chunks of at most ``chunk_bytes``, or a regular file for openssl to read.

    A regular file goes to openssl as its stdin, so its bytes never pass through Python; any
    other path (a FIFO, a device) is read here, a chunk at a time, and closed on leaving. Bytes
    that fit a pipe (64 KiB) are written into the children's stdin whole, before they start.
    """
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        try:
            file = await anyio.open_file(path, "rb")
        except OSError as exc:
            raise InvalidInput(f"cannot read {str(path)!r}: {exc.strerror or exc}") from exc
        async with file:
            if stat.S_ISREG(
                (await anyio.to_thread.run_sync(os.fstat, file.wrapped.fileno())).st_mode
            ):
                yield InputFile(str(path))
            else:
                yield _file_chunks(file, chunk_bytes, path)
    elif isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)
        if len(data) <= SMALL_INPUT_BYTES:
            yield InputBytes(data)  # written into the children's stdin before they start
        else:
            yield _bytes_chunks(data, chunk_bytes)
    elif isinstance(source, ByteReceiveStream):
        yield _stream_chunks(source, chunk_bytes)
    else:
        yield source


async def _file_chunks(
    file: anyio.AsyncFile[bytes], chunk_bytes: int, path: Path
) -> AsyncIterator[bytes]:
    while True:
        try:
            piece = await file.read(chunk_bytes)
        except OSError as exc:
            raise FanoutError(f"cannot read {str(path)!r}: {exc.strerror or exc}") from exc
        if not piece:
            return
        yield piece


async def _bytes_chunks(data: bytes, chunk_bytes: int) -> AsyncIterator[bytes]:
    for start in range(0, len(data), chunk_bytes):
        yield data[start : start + chunk_bytes]


async def _stream_chunks(stream: ByteReceiveStream, chunk_bytes: int) -> AsyncIterator[bytes]:
    while True:
        try:
            yield await stream.receive(chunk_bytes)
        except anyio.EndOfStream:
            return


@asynccontextmanager
async def opened_target(target: Target | None) -> AsyncIterator[Write | OutputFile | None]:
    """A write function for the target; a path is renamed into place on a clean exit only.

    None stays None: no target, only the digest.
    """
    if target is None:
        yield None
    elif isinstance(target, str | os.PathLike):
        async with atomic_writer(target, sync=False) as writer:
            try:
                yield OutputFile(writer.fileno())  # the chain has the kernel move the bytes in
            except OutputFailed as exc:
                refuse_write(target, exc.error)
    elif isinstance(target, ByteSendStream):
        yield target.send
    else:
        yield target
