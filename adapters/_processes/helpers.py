"""Multiprocessing's own helper processes, the forkserver and the resource tracker, stopped on
demand.

Each starts once per interpreter, the first time a pool or a shared memory block needs it, and
left alone it stays until the interpreter exits: it then sees its end of a pipe close and exits
a moment *after* its parent, an orphan for init to reap (and an init that does not reap, as in
some containers, keeps it as a zombie). A daemon that calls :func:`stop_helpers` last ends whole:
nothing it started outlives it.
"""

from __future__ import annotations

from multiprocessing import forkserver, resource_tracker

__all__ = ["stop_helpers"]


def stop_helpers() -> None:
    """Stop the forkserver and the resource tracker if this process started them, and reap
    them; either starts again if it is needed later.

    Call it once no pool and no shared block is in use: the forkserver's workers must have been
    reaped, and the tracker unlinks any block still registered with it.
    """
    # Private on purpose: Python has no public way to stop either (3.11 to 3.13). ``_stop`` is
    # what CPython's own tests use: close the "alive" pipe, then wait for the process; it does
    # nothing when this process never started one.
    forkserver._forkserver._stop()  # type: ignore[attr-defined]  # private: see the comment above
    resource_tracker._resource_tracker._stop()  # type: ignore[attr-defined]  # private: see the comment above
