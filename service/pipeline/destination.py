"""Where resized images go: a local directory (atomic writes) or a base URL (HTTP PUT).

Names come from the source, never a path: the last segment of the URL or file name, cut down
to letters, digits, ``.``, ``_`` and ``-``, and suffixed with a hash of the whole source so
two sources never collide. ``../../etc/passwd`` becomes ``passwd-<hash>.webp`` in the
destination directory, nowhere else.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import partial
from pathlib import Path, PurePosixPath
from typing import Final, final
from urllib.parse import quote, unquote, urlsplit

import anyio

from service.errors import InvalidInput
from service.system.files import write_atomic

__all__ = ["Destination", "safe_name"]

_UNSAFE: Final = re.compile(r"[^A-Za-z0-9._-]+")
_LONGEST_STEM: Final = 64


def safe_name(source: str, extension: str) -> str:
    """A file name for ``source``'s output: safe, stable, and unique per source."""
    path = urlsplit(source).path if "://" in source else source
    last = PurePosixPath(unquote(path).replace("\\", "/")).name
    stem = _UNSAFE.sub("-", PurePosixPath(last).stem).strip(".-_")[:_LONGEST_STEM] or "image"
    digest = hashlib.sha256(source.encode()).hexdigest()[:10]
    return f"{stem}-{digest}.{extension}"


@final
@dataclass(frozen=True, slots=True)
class Destination:
    """A directory to write into, or a base URL to PUT under (``url`` set)."""

    directory: Path | None = None
    url: str | None = None

    @classmethod
    def parse(cls, text: str) -> Destination:
        """``http(s)://...`` is a base URL; anything else must be an existing directory."""
        if text.startswith(("http://", "https://")):
            return cls(url=text.rstrip("/") + "/")
        if "://" in text:
            raise InvalidInput(f"--dest {text!r}: a directory or an http(s) URL")
        path = Path(text)
        if not path.is_dir():
            raise InvalidInput(f"--dest {text!r}: no such directory (create it first)")
        return cls(directory=path)

    def target(self, name: str) -> str:
        """Where ``name`` goes: a path in the directory, or the URL to PUT."""
        if self.url is not None:
            return self.url + quote(name)
        assert self.directory is not None
        return str(self.directory / name)

    async def write(self, name: str, data: bytes) -> str:
        """Write ``data`` as ``name`` in the directory, atomically; the final path."""
        target = Path(self.target(name))
        await anyio.to_thread.run_sync(partial(write_atomic, target, data, sync=False))
        return str(target)
