"""Local files as download sources (``file:///abs/path`` or a plain path), for the CLI.

The daemon turns them off (``allow_files=False``): a client could otherwise read any file the
service can. The read happens on a worker thread, under the same ``max_bytes`` limit as HTTP.
The Content-Type is guessed from the file name and is not checked against ``content_types``:
the file was named by the user, and the decoder looks at the bytes themselves.
"""

from __future__ import annotations

import mimetypes
import os
import stat
from typing import Final
from urllib.parse import unquote, urlsplit

import anyio.to_thread

from adapters._http.downloaded import Downloaded
from adapters._http.errors import HttpError, Refused
from adapters._http.policy import Policy

__all__ = ["read_local"]

_UNKNOWN_TYPE: Final = "application/octet-stream"


async def read_local(source: str, policy: Policy) -> Downloaded:
    """Read the file ``source`` names (a ``file:`` URL or a path), up to ``max_bytes``."""
    if not policy.allow_files:
        raise Refused(
            f"local file {source!r} refused: allow_files is off (use an http or https URL)",
            url=source,
        )
    path = _path_of(source)
    data = await anyio.to_thread.run_sync(_read, path, source, policy.max_bytes)
    content_type = mimetypes.guess_type(path)[0] or _UNKNOWN_TYPE
    return Downloaded(data=data, content_type=content_type, url=source)


def _path_of(source: str) -> str:
    parts = urlsplit(source)
    if parts.scheme.lower() != "file":
        return source
    if parts.netloc not in ("", "localhost"):
        raise Refused(
            f"file URL {source!r} names host {parts.netloc!r}: use file:///absolute/path",
            url=source,
        )
    return unquote(parts.path)


def _read(path: str, source: str, max_bytes: int) -> bytes:
    try:
        # Refuse FIFOs and devices before opening: opening a FIFO blocks until a writer comes.
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise HttpError(f"{path!r} is not a regular file", url=source, transient=False)
        with open(path, "rb") as file:
            # Not read(max_bytes + 1): that allocates max_bytes up front for every file.
            size = os.fstat(file.fileno()).st_size
            data = file.read(min(size, max_bytes) + 1)
            if len(data) == size + 1 and size < max_bytes:  # it grew while we read it
                data += file.read(max_bytes + 1 - len(data))
    except (FileNotFoundError, NotADirectoryError) as exc:
        raise HttpError(f"no such file {path!r}", url=source, transient=False) from exc
    except PermissionError as exc:
        raise HttpError(
            f"cannot read {path!r}: permission denied", url=source, transient=False
        ) from exc
    except OSError as exc:
        # Out of file descriptors, I/O errors: the same read may well work later.
        reason = exc.strerror or str(exc)
        raise HttpError(f"cannot read {path!r}: {reason}", url=source, transient=True) from exc
    if len(data) > max_bytes:
        raise HttpError(
            f"body larger than {max_bytes} bytes: file {path!r} (max_bytes is {max_bytes})",
            url=source,
            transient=False,
        )
    return data
