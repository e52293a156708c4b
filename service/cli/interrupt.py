"""Ctrl-C (or SIGTERM) for commands that run a job: cancel it through anyio, let its clean-up
finish."""

from __future__ import annotations

import signal
from collections.abc import Awaitable, Callable
from typing import TypeVar

import anyio

__all__ = ["until_interrupted"]

T = TypeVar("T")


async def until_interrupted(work: Callable[[], Awaitable[T]]) -> T | None:
    """What ``work`` returned, or None when Ctrl-C or SIGTERM stopped it.

    Either signal cancels the work through anyio, so its shielded clean-up - children stopped and
    reaped, threads joined, partial files removed - runs to the end. (asyncio's own SIGINT
    handler cancels the main task natively, which cuts through anyio's shields.) An exception
    of the work is raised as itself, not in an ExceptionGroup.
    """
    results: list[T] = []
    errors: list[Exception] = []
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as interrupts:
        async with anyio.create_task_group() as group:

            async def run() -> None:
                try:
                    results.append(await work())
                except Exception as exc:
                    errors.append(exc)
                group.cancel_scope.cancel()

            group.start_soon(run)
            async for _ in interrupts:
                group.cancel_scope.cancel()
    if errors:
        raise errors[0]
    return results[0] if results else None
