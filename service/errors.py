"""The one exception tree of fanout-service.

Every error the service raises on purpose is a ``FanoutError``. Foreign exceptions
(``OSError``, numba, Pillow, ...) are translated at the boundary with ``raise ... from exc``.

    FanoutError                     exit 1: the service could not do what was asked
    ├── InvalidInput                exit 2: the caller asked for something wrong
    │   ├── ConfigError             a config key, type or value is wrong
    │   ├── RuleError               a B/S rule string cannot be parsed or is refused
    │   ├── PatternError            a pattern file cannot be parsed (FILE:LINE:COL)
    │   ├── BadParam                a job parameter is wrong; ``field`` names it (HTTP 400)
    │   ├── LimitExceeded           a request goes past a configured limit
    │   │   └── PayloadTooLarge     a request body past its limit (HTTP 413)
    │   └── Unsupported             a valid request this build does not support
    ├── NotFound                    no such job (HTTP 404)
    ├── Conflict                    not in a state that allows it: cancel a finished job (409)
    ├── TryLater                    a refusal that passes; ``retry_after_s`` says when
    │   ├── Busy                    the queue is full (HTTP 429)
    │   ├── Draining                the daemon is stopping and takes no new jobs (HTTP 503)
    │   └── StoreBusy               another process holds the job store's lock (HTTP 503)
    ├── Unauthorized                a missing or wrong API token (HTTP 401)
    ├── NotAvailable                a feature that is not part of this build yet
    ├── WorkerError                 a worker (thread, process) failed while computing
    ├── CryptoFailed                openssl failed: wrong password, corrupted input, killed
    └── TimedOut                    a job ran past its time limit and was stopped

Messages say what was wrong, with the offending value, and what is allowed.
"""

from __future__ import annotations

from functools import partial
from typing import Any, ClassVar

__all__ = [
    "BadParam",
    "Busy",
    "ConfigError",
    "Conflict",
    "CryptoFailed",
    "Draining",
    "FanoutError",
    "InvalidInput",
    "LimitExceeded",
    "NotAvailable",
    "NotFound",
    "PatternError",
    "PayloadTooLarge",
    "RuleError",
    "StoreBusy",
    "TimedOut",
    "TryLater",
    "Unauthorized",
    "Unsupported",
    "WorkerError",
]


class FanoutError(Exception):
    """Raised when the service cannot do what was asked; the root of the tree."""

    exit_code: ClassVar[int] = 1


class InvalidInput(FanoutError):
    """Raised when the caller's input is wrong: a usage error, never a crash."""

    exit_code: ClassVar[int] = 2


class ConfigError(InvalidInput):
    """Raised when a config key, its type or its value is not allowed."""


class RuleError(InvalidInput):
    """Raised when a Life rule string cannot be parsed or names an unsupported topology."""


class PatternError(InvalidInput):
    """Raised when a pattern file cannot be parsed; the message starts with FILE:LINE:COL."""

    def __init__(self, message: str, *, source: str = "<input>", line: int = 0, column: int = 0):
        self.source = source
        self.line = line
        self.column = column
        self.reason = message
        where = (
            source
            if line == 0
            else f"{source}:{line}"
            if column == 0
            else f"{source}:{line}:{column}"
        )
        super().__init__(f"{where}: {message}")

    def __reduce__(self) -> tuple[Any, ...]:
        # By pickle (from a worker process) as made: Exception's own reduce would call
        # __init__ with the finished message, and prefix it with a second "<input>: ".
        rebuild = partial(PatternError, source=self.source, line=self.line, column=self.column)
        return rebuild, (self.reason,), self.__dict__


class LimitExceeded(InvalidInput):
    """Raised when a request goes past a configured limit (cells, generations, threads...)."""


class Unsupported(InvalidInput):
    """Raised when a well-formed request asks for something this service does not do."""


class NotAvailable(FanoutError):
    """Raised when a command or feature is not part of this build yet."""


class WorkerError(FanoutError):
    """Raised when a worker thread or process fails while computing."""


class CryptoFailed(FanoutError):
    """Raised when openssl fails a job: a wrong password, corrupted input, a killed child."""


class TimedOut(FanoutError):
    """Raised when a job runs past its time limit; whatever it started has been stopped."""


class PayloadTooLarge(LimitExceeded):
    """Raised when a request body goes past its configured limit."""


class NotFound(FanoutError):
    """Raised when no job has the given id."""


class Conflict(FanoutError):
    """Raised when a job is not in a state that allows the request (cancel a finished one)."""


class TryLater(FanoutError):
    """A refusal that passes: ``retry_after_s`` (the class's default unless given) says when to
    try again (HTTP ``Retry-After``)."""

    default_retry_after_s: ClassVar[int] = 1

    def __init__(self, message: str, *, retry_after_s: int | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = self.default_retry_after_s if retry_after_s is None else retry_after_s


class Busy(TryLater):
    """Raised when the job queue is full."""


class Draining(TryLater):
    """Raised when the daemon is stopping and takes no new jobs."""

    default_retry_after_s: ClassVar[int] = 5


class StoreBusy(TryLater):
    """Raised when the job store stays locked by another process past its busy timeout."""


class Unauthorized(FanoutError):
    """Raised when an API request lacks the token or carries a wrong one."""


class BadParam(InvalidInput):
    """Raised when one parameter of a request is wrong; ``field`` is its path (``params.rule``)."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field
