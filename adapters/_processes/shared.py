"""Numpy arrays in named shared memory: one process creates a block, others attach by its name.

The block is never pickled: a process hands on a :class:`SharedSpec` (a name, a shape, a dtype;
a few dozen bytes) and the receiver attaches to the same pages.

Why attaching does not register the block with multiprocessing's resource tracker (CPython
gh-82300, before 3.13): every ``SharedMemory`` that opens a block registers its name, even one
that only attaches. A process started by multiprocessing shares its parent's tracker, whose
record is a set: the usual workaround, unregistering after attaching, removes the *owner's*
entry, and the owner's own unlink then makes the tracker print a ``KeyError`` traceback (and a
crash of the owner would leak the block). A process with a tracker of its own has the opposite
trouble: when it exits, its tracker "cleans up" the block the owner still uses and warns of
"leaked shared_memory objects". So a borrower must not register at all, which is what
``track=False`` does from 3.13; before that, the registration of that one name is dropped while
the block opens.
"""

from __future__ import annotations

import atexit
import math
import operator
import os
import secrets
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing import resource_tracker
from multiprocessing.shared_memory import SharedMemory
from types import TracebackType
from typing import Any, Final, Literal, SupportsIndex, final

import numpy as np
import numpy.typing as npt

__all__ = ["NAME_PREFIX", "SharedArray", "SharedArrayInUse", "SharedSpec", "block_prefix"]

NAME_PREFIX: Final = "fanout_"
"""Every block this module creates is named ``fanout_<pid>_<16 hex>`` (``/dev/shm`` on Linux)."""


def block_prefix(pid: int | None = None) -> str:
    """The start of the names of the blocks created by process ``pid`` (default: this one).

    With the creator in the name, a leak check can look at its own blocks only, whatever
    other processes on the machine are doing.
    """
    return f"{NAME_PREFIX}{os.getpid() if pid is None else pid}_"


# Muting swaps a function of the resource_tracker module, which every thread sees: one at a time.
_mute_lock: Final = threading.Lock()

# Blocks closed while numpy views of them were alive: unmapped once the views are gone. Held
# here so that SharedMemory.__del__ does not try first, and fail where nobody can catch it.
_parked: Final[list[SharedMemory]] = []
_parked_lock: Final = threading.Lock()


class SharedArrayInUse(BufferError):
    """Raised when a shared array is closed while numpy views of its block are still alive."""


@final
@dataclass(frozen=True, slots=True)
class SharedSpec:
    """What another process needs to attach to a shared array: picklable, a few dozen bytes."""

    name: str
    shape: tuple[int, ...]
    dtype: str

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * np.dtype(self.dtype).itemsize


@final
class SharedArray:
    """A numpy array whose data live in a named shared-memory block.

    The owner (:meth:`create`) unlinks the block when it closes; a borrower (:meth:`attach`)
    only unmaps it. Drop the numpy views of :attr:`array` before :meth:`close`: pages cannot be
    unmapped while a view points into them (:class:`SharedArrayInUse`).
    """

    __slots__ = ("_array", "_owner", "_shm", "spec")

    def __init__(self, shm: SharedMemory, spec: SharedSpec, *, owner: bool) -> None:
        """Wrap an open block; use :meth:`create` or :meth:`attach` instead."""
        self.spec = spec
        self._shm: SharedMemory | None = shm
        self._owner = owner
        self._array: npt.NDArray[Any] | None = self._view(shm)

    @classmethod
    def create(
        cls, shape: SupportsIndex | Sequence[SupportsIndex], dtype: npt.DTypeLike
    ) -> SharedArray:
        """A new zeroed block for an array of ``shape`` and ``dtype``, owned by the caller."""
        _unmap_parked()
        sizes = shape if isinstance(shape, Sequence) else (shape,)
        dims = tuple(operator.index(n) for n in sizes)
        kind = np.dtype(dtype)
        if any(n < 0 for n in dims):
            raise ValueError(f"shape {dims} has a negative dimension")
        if kind.hasobject:
            raise ValueError(f"dtype {kind} holds Python objects: choose a numeric dtype")
        shm = _create(max(math.prod(dims) * kind.itemsize, 1))  # an empty block is refused
        return cls(shm, SharedSpec(shm.name, dims, kind.str), owner=True)

    @classmethod
    def attach(cls, spec: SharedSpec) -> SharedArray:
        """Open the block ``spec`` names (FileNotFoundError if it is gone), as a borrower."""
        _unmap_parked()
        if sys.version_info >= (3, 13):
            shm = SharedMemory(spec.name, track=False)
        else:
            with _tracker_muted(spec.name, "register"):
                shm = SharedMemory(spec.name)
        if shm.size < spec.nbytes:
            shm.close()
            raise ValueError(f"block {spec.name!r} holds {shm.size} bytes, {spec} needs more")
        return cls(shm, spec, owner=False)

    @property
    def array(self) -> npt.NDArray[Any]:
        """The whole block as a numpy array (a view: writes reach every process)."""
        if self._array is None:
            raise ValueError(f"{self!r} is closed")
        return self._array

    @property
    def closed(self) -> bool:
        return self._shm is None

    def close(self) -> None:
        """Unmap the block, and unlink it if this process created it. Idempotent.

        If numpy views of :attr:`array` are still alive, the block cannot be unmapped yet: it is
        unlinked all the same, kept mapped until the views are gone (a later create, attach or
        close unmaps it), and :class:`SharedArrayInUse` says so.
        """
        shm, self._shm, self._array = self._shm, None, None
        if shm is None:
            return
        if self._owner:
            # Unlink first: the name goes even if live views keep the pages mapped a while.
            shm.unlink()
        if not _unmap(shm):
            raise SharedArrayInUse(f"{self!r}: numpy views of it are still alive")

    def __enter__(self) -> SharedArray:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        role = "owner" if self._owner else "borrower"
        state = " closed" if self._shm is None else ""
        return f"<SharedArray {self.spec.name} {self.spec.shape} {self.spec.dtype} {role}{state}>"

    def _view(self, shm: SharedMemory) -> npt.NDArray[Any]:
        if shm.buf is None:
            raise ValueError(f"{self!r} is closed")
        # count= because the OS may round the block up to whole pages.
        flat = np.frombuffer(shm.buf, dtype=self.spec.dtype, count=math.prod(self.spec.shape))
        return flat.reshape(self.spec.shape)


def _unmap(shm: SharedMemory) -> bool:
    """Unmap ``shm`` now if no view pins it, else park it; True if unmapped."""
    with _parked_lock:
        try:
            shm.close()
        except BufferError:
            _parked.append(shm)
            return False
        return True


def _unmap_parked() -> None:
    with _parked_lock:
        pending = list(_parked)
        _parked.clear()
    for shm in pending:
        _unmap(shm)


atexit.register(_unmap_parked)


def _create(size: int) -> SharedMemory:
    while True:
        name = f"{block_prefix()}{secrets.token_hex(8)}"
        try:
            # A create that fails after shm_open unlinks the block and unregisters a name it
            # never registered, which the tracker reports as a KeyError traceback: drop that.
            with _tracker_muted(name, "unregister"):
                return SharedMemory(name, create=True, size=size)
        except FileExistsError:
            continue


@contextmanager
def _tracker_muted(name: str, command: Literal["register", "unregister"]) -> Iterator[None]:
    """Drop the resource tracker's ``command`` for the shared-memory block ``name`` meanwhile."""
    with _mute_lock:
        original: Callable[[str, str], None] = getattr(resource_tracker, command)

        def muted(resource: str, rtype: str) -> None:
            if rtype != "shared_memory" or resource.lstrip("/") != name:
                original(resource, rtype)

        setattr(resource_tracker, command, muted)
        try:
            yield
        finally:
            setattr(resource_tracker, command, original)
