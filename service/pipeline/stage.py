"""A stage: a function, where it runs, how many at once, its time limit and retry policy.

Runners:

- ``async`` — ``fn`` is a coroutine function, awaited on the event loop (I/O);
- ``thread`` — ``fn`` is a plain function run by ``anyio.to_thread`` under the stage's own
  ``CapacityLimiter`` (CPU work that releases the GIL, blocking calls);
- ``process`` — ``fn`` is a module-level function run by ``anyio.to_process`` (CPU work that
  holds the GIL); its argument and result are pickled.

A time limit interrupts an ``async`` call and kills a ``process`` worker; a thread cannot be
interrupted, so a ``thread`` call that overran is failed (as timed out) once it returns.
"""

from __future__ import annotations

import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Final, Literal, final

import anyio
from anyio import CapacityLimiter, to_process, to_thread

from service.pipeline.retry import Retry, is_transient

__all__ = ["RUNNERS", "Attempted", "Runner", "Stage"]

Runner = Literal["async", "thread", "process"]
RUNNERS: Final[tuple[Runner, ...]] = ("async", "thread", "process")


@final
@dataclass(frozen=True, slots=True)
class Attempted:
    """The result of an item's trip through one stage: a value, or the error it ended with."""

    value: object | None
    error: Exception | None
    attempts: int


@final
@dataclass(frozen=True, slots=True)
class Stage:
    """``workers`` tasks call ``fn`` on each item; see the module docstring for ``runner``."""

    name: str
    fn: Callable[[Any], Any]
    workers: int = 1
    runner: Runner = "async"
    timeout_s: float | None = None
    retry: Retry = field(default_factory=Retry)

    def __post_init__(self) -> None:
        if self.runner not in RUNNERS:
            raise ValueError(
                f"stage {self.name!r}: runner {self.runner!r}: choose {', '.join(RUNNERS)}"
            )
        if self.workers < 1:
            raise ValueError(f"stage {self.name!r}: workers {self.workers}: must be at least 1")
        if self.timeout_s is not None and self.timeout_s <= 0:
            raise ValueError(f"stage {self.name!r}: timeout {self.timeout_s}: must be above 0")

    async def attempt(
        self, value: object, *, rng: random.Random, limiter: CapacityLimiter
    ) -> Attempted:
        """Call ``fn`` until it succeeds, fails for good, or runs out of attempts.

        ``limiter`` bounds the stage's threads or processes (one per stage, ``workers`` tokens).
        Exceptions are the item's, not the run's: they come back in the result. Cancellation
        (a ``BaseException``) goes through.
        """
        failures = 0
        while True:
            try:
                return Attempted(await self._call(value, limiter), None, failures + 1)
            except Exception as error:
                failures += 1
                if failures >= self.retry.attempts or not is_transient(error):
                    return Attempted(None, error, failures)
                await anyio.sleep(self.retry.delay(failures, rng))

    async def _call(self, value: object, limiter: CapacityLimiter) -> object:
        if self.runner == "thread":
            return await self._in_thread(value, limiter)
        call: Callable[[], Awaitable[object]]
        if self.runner == "async":
            call = lambda: self.fn(value)  # noqa: E731 - one line reads better than a def
        else:
            call = lambda: to_process.run_sync(  # noqa: E731  # one line reads better than a def
                self.fn, value, cancellable=True, limiter=limiter
            )
        if self.timeout_s is None:
            return await call()
        try:
            with anyio.fail_after(self.timeout_s):
                return await call()
        except TimeoutError:
            raise TimeoutError(f"timed out after {self.timeout_s:g} s") from None

    async def _in_thread(self, value: object, limiter: CapacityLimiter) -> object:
        started = time.monotonic()
        result = await to_thread.run_sync(self.fn, value, limiter=limiter)
        if self.timeout_s is not None and time.monotonic() - started > self.timeout_s:
            raise TimeoutError(f"took longer than {self.timeout_s:g} s")
        return result
