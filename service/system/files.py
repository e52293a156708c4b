"""Files that appear whole or not at all: every file the service writes goes through here.

The one contract, for the blocking ``atomic_file`` / ``write_atomic`` and the async
``atomic_writer`` alike:

- the data goes to a partial file beside the target, ``.<name>.<8 hex digits>.part`` (hidden
  from listings; the random part keeps two writers of one target apart; ``PARTIAL`` is the
  suffix a sweep looks for);
- on a clean exit it is flushed, synced to the disk unless ``sync=False``, and renamed over the
  target, so a reader sees the old file or the whole new one, never a part;
- on any error or cancellation the partial file is removed and the target is left untouched;
- the file's permissions are what ``open()`` gives under the umask;
- errors name the target: ``InvalidInput`` when the place cannot take a file there (no such
  directory, a directory in the way, no permission), ``FanoutError`` when the disk fails
  (full, I/O error). An error of the caller's own passes through as it is.
"""

from __future__ import annotations

import errno
import os
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from pathlib import Path
from typing import IO, BinaryIO, Final, NoReturn, ParamSpec, TypeVar, final

import anyio

from service.errors import FanoutError, InvalidInput

__all__ = [
    "PARTIAL",
    "AtomicWriter",
    "atomic_file",
    "atomic_writer",
    "refuse_write",
    "write_atomic",
]

P = ParamSpec("P")
T = TypeVar("T")

PARTIAL: Final = ".part"

# The errors that say the place is wrong (the caller's to fix), not that the disk failed.
_PLACE_ERRORS: Final = frozenset(
    {errno.ENOENT, errno.ENOTDIR, errno.EISDIR, errno.EACCES, errno.EPERM, errno.EROFS}
)


@contextmanager
def atomic_file(path: str | os.PathLike[str], *, sync: bool = True) -> Iterator[BinaryIO]:
    """A binary file to write ``path``'s new content into; it replaces ``path`` on a clean exit."""
    target = _writable(path)
    partial = _partial(target)
    try:
        descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
    except OSError as exc:
        _refuse(target, exc)
    try:
        with open(descriptor, "wb") as file:
            yield file
            _on_disk(target, file.flush)
            if sync:
                _on_disk(target, os.fsync, file.fileno())
        _on_disk(target, os.replace, partial, target)
    except BaseException:
        with suppress(OSError):
            partial.unlink(missing_ok=True)
        raise


def write_atomic(path: str | os.PathLike[str], data: bytes, *, sync: bool = True) -> int:
    """Write ``data`` as ``path``'s whole new content (blocking); the byte count."""
    with atomic_file(path, sync=sync) as file:
        _on_disk(Path(path), file.write, data)
    return len(data)


@final
class AtomicWriter:
    """What ``atomic_writer`` yields: ``await writer(piece)``, and the partial file's ``fileno``
    for a caller that has the kernel move data into it (``os.splice``)."""

    __slots__ = ("_file", "_target")

    def __init__(self, file: anyio.AsyncFile[bytes], target: Path) -> None:
        self._file = file
        self._target = target

    def __repr__(self) -> str:
        return f"<AtomicWriter {os.fspath(self._target)!r}>"

    async def __call__(self, piece: bytes) -> None:
        try:
            await self._file.write(piece)
        except OSError as exc:
            _refuse(self._target, exc)

    def fileno(self) -> int:
        return self._file.wrapped.fileno()


@asynccontextmanager
async def atomic_writer(
    path: str | os.PathLike[str], *, sync: bool = True
) -> AsyncIterator[AtomicWriter]:
    """An async ``writer(piece)`` into ``path``'s new content, which replaces it on a clean exit.

    The file is opened, synced and renamed on worker threads; the pieces are written through
    anyio's file, so a slow disk never blocks the event loop.
    """
    target = await anyio.to_thread.run_sync(_writable, path)
    partial = _partial(target)
    try:
        file = await anyio.open_file(partial, "xb")
    except OSError as exc:
        _refuse(target, exc)
    try:
        async with file:
            yield AtomicWriter(file, target)
            await _on_disk_async(target, file.flush)
            if sync:
                await _on_disk_async(target, anyio.to_thread.run_sync, _synced(file.wrapped))
        await _on_disk_async(target, anyio.to_thread.run_sync, _renamed(partial, target))
    except BaseException:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(lambda: partial.unlink(missing_ok=True))
        raise


def _writable(path: str | os.PathLike[str]) -> Path:
    """``path``, refused at once when a directory is in its way (not after the work is done)."""
    target = Path(path)
    if target.is_dir():
        raise InvalidInput(f"cannot write {os.fspath(target)!r}: it is a directory: name a file")
    return target


def _renamed(partial: Path, target: Path) -> Callable[[], None]:
    return lambda: os.replace(partial, target)


def _synced(file: IO[bytes]) -> Callable[[], None]:
    return lambda: os.fsync(file.fileno())


def _partial(target: Path) -> Path:
    return target.with_name(f".{target.name}.{secrets.token_hex(4)}{PARTIAL}")


def _on_disk(target: Path, call: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    try:
        return call(*args, **kwargs)
    except OSError as exc:
        _refuse(target, exc)


async def _on_disk_async(
    target: Path, call: Callable[P, Awaitable[T]], *args: P.args, **kwargs: P.kwargs
) -> T:
    try:
        return await call(*args, **kwargs)
    except OSError as exc:
        _refuse(target, exc)


def refuse_write(target: str | os.PathLike[str], exc: OSError) -> NoReturn:
    """The error this module raises for ``exc`` on ``target``: for a caller that wrote into
    one of its files by other means (``os.splice``) and was refused."""
    _refuse(Path(target), exc)


def _refuse(target: Path, exc: OSError) -> NoReturn:
    reason = f"cannot write {os.fspath(target)!r}: {exc.strerror or exc}"
    if exc.errno == errno.ENOENT and not target.parent.is_dir():
        reason = (
            f"cannot write {os.fspath(target)!r}: its directory "
            f"{os.fspath(target.parent)!r} does not exist"
        )
    if exc.errno in _PLACE_ERRORS:
        raise InvalidInput(reason) from exc
    raise FanoutError(reason) from exc
