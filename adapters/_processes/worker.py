"""The loop a :class:`ProcessPool` worker runs: receive a task, run it, send its outcome back.

Over the worker's own pipe the parent sends ``(index, pickled (fn, item))``, or ``None`` to stop;
the worker answers ``pickled (index, ok, value)``, where a failed task's value is a
:class:`Failure`. Everything a task does wrong (its function raises, its result or its exception
will not pickle) comes back as a failure; only a dying process ends the loop early.
"""

from __future__ import annotations

import importlib
import pickle
import signal
import traceback
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any, Final, final

from adapters._processes.attach_cache import detach_all
from adapters._processes.errors import TaskFailed

READY: Final = b"ready"
"""What a worker sends once it is started and has imported its preload list."""

__all__ = ["Failure", "serve"]


@final
@dataclass(frozen=True, slots=True, repr=False)
class Failure:
    """A task's exception on its way back: pickled whole when it can be, described always."""

    pickled: bytes | None
    type_name: str
    message: str
    trace: str

    @classmethod
    def of(cls, exc: BaseException) -> Failure:
        try:
            pickled: bytes | None = pickle.dumps(exc, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception:
            pickled = None
        kind = type(exc)
        text = "".join(traceback.format_exception(exc))
        return cls(pickled, f"{kind.__module__}.{kind.__qualname__}", str(exc), text)

    def exception(self, where: str) -> BaseException:
        """The exception again (its own type if it unpickles), its traceback text as a note."""
        try:
            exc: BaseException = pickle.loads(self.pickled) if self.pickled else self._stand_in()
        except Exception:
            # An exception whose __init__ does not take its own args pickles but won't unpickle.
            exc = self._stand_in()
        exc.add_note(f"raised in {where}:\n{self.trace.rstrip()}")
        return exc

    def _stand_in(self) -> TaskFailed:
        return TaskFailed(f"{self.type_name}: {self.message}")

    def __repr__(self) -> str:
        return f"<Failure {self.type_name}>"


def serve(conn: Connection, preload: tuple[str, ...]) -> None:
    """Run tasks from ``conn`` until the parent sends ``None`` or goes away."""
    # The parent owns cancellation. Ctrl-C reaches the whole process group: a worker that died
    # of it mid-task would be reported as a crash instead of the parent's KeyboardInterrupt.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        for name in preload:
            # A no-op when the forkserver preloaded it; otherwise the module is ready before task 1.
            importlib.import_module(name)
        conn.send_bytes(READY)
        while (task := _receive(conn)) is not None:
            conn.send_bytes(_run(*task))
    except OSError:
        pass  # the parent closed its end mid-answer: it no longer wants the result
    finally:
        detach_all()
        conn.close()


def _receive(conn: Connection) -> tuple[int, bytes] | None:
    try:
        task: tuple[int, bytes] | None = conn.recv()
    except (EOFError, OSError):
        return None  # the parent died or closed the pool without saying so
    return task


def _run(index: int, blob: bytes) -> bytes:
    try:
        fn, item = pickle.loads(blob)
        outcome: tuple[int, bool, Any] = (index, True, fn(item))
        return pickle.dumps(outcome, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:
        return pickle.dumps((index, False, Failure.of(exc)), protocol=pickle.HIGHEST_PROTOCOL)
