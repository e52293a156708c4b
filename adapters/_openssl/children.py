"""An openssl child process behind one small async interface, and how every child ends.

Two spawners implement it: :mod:`.async_child` (the event loop waits on the pipes) and
:mod:`.thread_child` (worker threads block on them), on the bases here (:class:`PipeSpawner`,
:class:`ProcessChild`). Both start a child with :class:`Ends`, the pipes it is given, and both
are stopped the same way (:func:`stop`): SIGTERM, a grace period, SIGKILL, reaped. Children
start in a session of their own, so a Ctrl-C on the terminal reaches this process only, and
this process decides how its children end.
"""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Final, Generic, Protocol, TypeVar

import anyio

from adapters._openssl.pipes import close_fds, sized_pipe
from adapters.environment import child_environment

__all__ = [
    "PIPE",
    "Child",
    "ChildGone",
    "Ends",
    "PipeSpawner",
    "ProcessChild",
    "Spawner",
    "close_fds",
    "stop",
]

PIPE: Final = subprocess.PIPE
T = TypeVar("T")

_STDERR_PIPE: Final = 0  # the default size: openssl writes a few lines there


class Ends:
    """The pipes of one child being started: the child's ends and ours."""

    __slots__ = ("child", "stderr", "stdin", "stdout", "theirs")

    def __init__(self, stdin: int, stdout: int, size: int) -> None:
        self.theirs: list[int] = []
        self.stdin, child_stdin = self._make(stdin, size, ours_reads=False)
        self.stdout, child_stdout = self._make(stdout, size, ours_reads=True)
        self.stderr, child_stderr = self._make(PIPE, _STDERR_PIPE, ours_reads=True)
        self.child = (child_stdin, child_stdout, child_stderr)

    def _make(self, given: int, size: int, *, ours_reads: bool) -> tuple[int | None, int]:
        if given != PIPE:
            return None, given  # an fd the caller owns (a file, the pipe between two children)
        read, write = sized_pipe(size)
        ours, theirs = (read, write) if ours_reads else (write, read)
        self.theirs.append(theirs)
        return ours, theirs

    def ours(self) -> list[int]:
        return [fd for fd in (self.stdin, self.stdout, self.stderr) if fd is not None]

    def options(self, pass_fds: Sequence[int]) -> dict[str, Any]:
        """How to start the child, for ``subprocess.Popen`` and ``anyio.open_process`` alike."""
        stdin, stdout, stderr = self.child
        return {
            "stdin": stdin,
            "stdout": stdout,
            "stderr": stderr,
            "pass_fds": tuple(pass_fds),
            "start_new_session": True,
            "env": child_environment(),
        }

    async def launch(self, start: Callable[[], Awaitable[T]]) -> T:
        """Start the child; then the child's ends are its own, and ours close if it failed."""
        try:
            return await start()
        except BaseException:
            close_fds(*self.ours())
            raise
        finally:
            close_fds(*self.theirs)


class ChildGone(Exception):
    """Raised when a child's stdin is closed under a write: it exited or was killed."""


class Child(Protocol):
    """One running openssl command: its pipes, its exit status, signals."""

    @property
    def role(self) -> str:
        """``enc`` or ``dgst``: how errors name it."""
        ...

    @property
    def pid(self) -> int: ...

    @property
    def returncode(self) -> int | None: ...

    async def write(self, data: bytes) -> None:
        """Write all of ``data`` to stdin; :class:`ChildGone` when the child no longer reads."""
        ...

    async def close_stdin(self) -> None: ...

    async def read(self, max_bytes: int) -> bytes:
        """Up to ``max_bytes`` of stdout; ``b""`` at its end."""
        ...

    async def read_stderr(self, max_bytes: int) -> bytes: ...

    async def wait(self) -> int: ...

    def send_signal(self, sig: signal.Signals) -> None:
        """Signal the child if it has not been reaped yet."""
        ...

    async def aclose(self) -> None:
        """Close this side of every pipe (call after the child is reaped)."""
        ...

    @property
    def pipe_fds(self) -> tuple[int | None, int | None]:
        """This side of stdin and stdout (None: not a pipe of ours, or closed)."""
        ...


class _Process(Protocol):
    """What ``anyio.abc.Process`` and ``subprocess.Popen`` alike say about a child."""

    @property
    def pid(self) -> int: ...

    @property
    def returncode(self) -> int | None: ...


P = TypeVar("P", bound=_Process)


class ProcessChild(Generic[P]):
    """What both kinds of :class:`Child` share: a role, a process, and how they show."""

    __slots__ = ("_process", "role")

    def __init__(self, role: str, process: P) -> None:
        self.role = role
        self._process = process

    def __repr__(self) -> str:
        return f"<openssl {self.role} pid={self.pid} returncode={self.returncode}>"

    @property
    def pid(self) -> int:
        return self._process.pid

    @property
    def returncode(self) -> int | None:
        return self._process.returncode


class Spawner(Protocol):
    """Starts a :class:`Child`; ``stdin`` / ``stdout`` are :data:`PIPE` or an fd to hand over.

    The caller keeps (and closes) an fd it hands over; pipes made for :data:`PIPE` belong to
    the child object and close with it.
    """

    async def spawn(
        self, argv: Sequence[str], *, role: str, stdin: int, stdout: int, pass_fds: Sequence[int]
    ) -> Child: ...


class PipeSpawner:
    """What both spawners share: the size of the pipes they make, and how they show."""

    __slots__ = ("_pipe_bytes",)

    def __init__(self, *, pipe_bytes: int = 1024 * 1024) -> None:
        self._pipe_bytes = pipe_bytes

    def __repr__(self) -> str:
        return f"{type(self).__name__}(pipe_bytes={self._pipe_bytes})"


async def stop(child: Child, *, grace_s: float) -> None:
    """End ``child`` if it still runs (SIGTERM, ``grace_s``, SIGKILL), reap it, close its pipes.

    Call it shielded: a cancelled caller must still reap its children.
    """
    if child.returncode is None:
        child.send_signal(signal.SIGTERM)
        with anyio.move_on_after(grace_s):
            await child.wait()
        if child.returncode is None:
            child.send_signal(signal.SIGKILL)
            await child.wait()
    await child.aclose()
