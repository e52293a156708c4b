"""The artifacts directory: one flat folder of ``<job id><suffix>`` files, written atomically.

A job writes its artifact under a temporary ``….part`` name beside the final one and renames it
when complete (``write_artifact``), so a crash mid-write leaves a ``.part`` file,
never a half artifact that could be served; ``sweep_partials`` removes those on start.

Names are built here and nowhere else: a job id is lowercase hex and a suffix is a short
``.ext`` from a fixed alphabet, so no name from a request can reach outside the directory.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import AsyncIterable, Callable
from pathlib import Path
from typing import Final, final

import anyio

from service.errors import FanoutError
from service.jobs.model import Job
from service.system.files import PARTIAL, atomic_writer, write_atomic

__all__ = ["PARTIAL", "Artifacts", "is_job_id", "sync_artifact", "write_artifact"]

_JOB_ID: Final = re.compile(r"[0-9a-f]{26}")
_SUFFIX: Final = re.compile(r"(\.[a-z0-9]{1,10}){1,2}")


def is_job_id(text: str) -> bool:
    """Whether ``text`` has the shape of an id from ``new_job_id`` (26 lowercase hex digits)."""
    return _JOB_ID.fullmatch(text) is not None


@final
class Artifacts:
    """The directory where finished jobs keep their artifacts."""

    __slots__ = ("_root",)

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self._root = Path(root).absolute()

    def __repr__(self) -> str:
        return f"<Artifacts {str(self._root)!r}>"

    @property
    def root(self) -> Path:
        return self._root

    def path_for(self, job_id: str, suffix: str) -> Path:
        """Where job ``job_id`` keeps its artifact ending in ``suffix`` (``.rle``, ``.tar.gz``)."""
        if not is_job_id(job_id):
            raise ValueError(f"job id {job_id!r}: must be 26 lowercase hex digits")
        if _SUFFIX.fullmatch(suffix) is None or suffix == PARTIAL:
            raise ValueError(
                f"artifact suffix {suffix!r}: must be one or two '.ext' parts of 1 to 10 "
                "lowercase letters or digits, and not '.part'"
            )
        return self._root / f"{job_id}{suffix}"

    def relative(self, path: str | os.PathLike[str]) -> str:
        """``path``'s name in the directory, as jobs record it; ValueError if it is not in it."""
        candidate = Path(path).absolute()
        if candidate.parent != self._root or not is_job_id(candidate.name[:26]):
            raise ValueError(f"{candidate} is not an artifact path inside {self._root}")
        return candidate.name

    def resolve(self, name: str) -> Path:
        """The file a job recorded as its artifact ``name``; ValueError for a foreign name."""
        if "/" in name or "\\" in name:
            raise ValueError(f"artifact name {name!r}: must be a plain file name")
        return self.path_for(name[:26], name[26:])

    async def remove(self, job: Job) -> int:
        """Delete every file of ``job`` (its artifact and any partial one); how many there were."""
        if not is_job_id(job.id):
            return 0
        # Partial files may be hidden (".<id>….part"), as some writers name them.
        prefixes = (job.id, f".{job.id}")
        return await anyio.to_thread.run_sync(self._remove, lambda name: name.startswith(prefixes))

    async def sweep_partials(self) -> int:
        """Create the directory if need be and delete the ``.part`` files a crash left behind."""
        await anyio.to_thread.run_sync(lambda: self._root.mkdir(parents=True, exist_ok=True))
        return await anyio.to_thread.run_sync(self._remove, lambda name: name.endswith(PARTIAL))

    def _remove(self, wanted: Callable[[str], bool]) -> int:
        """Delete the files whose names are ``wanted``, in one directory pass."""
        removed = 0
        try:
            entries = os.scandir(self._root)
        except FileNotFoundError:
            return 0  # no artifact was ever written
        with entries:
            for entry in entries:
                if wanted(entry.name):
                    Path(entry.path).unlink(missing_ok=True)
                    removed += 1
        return removed


async def write_artifact(path: Path, content: bytes | AsyncIterable[bytes]) -> int:
    """Write ``content`` (bytes, or chunks as they come) as the artifact ``path``; the byte count.

    Atomic and synced, by ``service.system.files``'s one contract: on any error or cancellation
    the partial file is removed and ``path`` is left untouched.
    """
    if isinstance(content, bytes):
        return await anyio.to_thread.run_sync(write_atomic, path, content)
    written = 0
    async with atomic_writer(path) as write:
        async for chunk in content:
            await write(chunk)
            written += len(chunk)
    return written


def sync_artifact(path: Path) -> None:
    """Make sure ``path`` is a regular file whose data and name are on the disk (blocking: on a
    worker thread); FanoutError saying why it is not.

    A job is recorded as succeeded next, and the store syncs at its checkpoints: the artifact
    must not be emptier than its record after a power cut, nor missing. The Life and pipeline
    writers sync their data already (this costs them a syscall); the crypto library renames its
    output into place unsynced, as ``openssl enc -out`` leaves a file. Every writer puts the file
    in place by a rename, which is durable only once the directory is synced too (ext4 commits
    it with the file's fsync, other file systems may not; after the file's, the directory's
    fsync costs about 0.1 ms on this machine's ext4).
    """
    try:
        synced = _synced_file(path)
    except OSError as exc:
        message = (
            f"the job's artifact {path.name} cannot be synced to the disk: {exc.strerror or exc}"
        )
        raise FanoutError(message) from exc
    if not synced:
        raise FanoutError(f"the job's artifact {path.name} was never written")


def _synced_file(path: Path) -> bool:
    try:
        # O_NONBLOCK: a FIFO in its place must not block the open.
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return False
    try:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            return False
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
    directory = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
    return True
