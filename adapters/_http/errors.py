"""The errors of :mod:`adapters.http_io`; the service maps them onto its own tree.

    HttpError           a download or upload failed; ``transient`` says whether to try again
    └── Refused         the policy forbids the URL (never transient)

Both carry ``url`` (as the caller gave it, or the redirect hop that failed), ``transient`` and
``status`` (the HTTP status, or None when there was no response), and survive pickling with
all three, so they cross process boundaries intact.
"""

from __future__ import annotations

from typing import Any

__all__ = ["HttpError", "Refused"]


class HttpError(Exception):
    """Raised when a download or upload fails; `transient` says whether trying again may help."""

    def __init__(
        self, message: str, *, url: str, transient: bool, status: int | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.url = url
        self.transient = transient
        self.status = status

    def __reduce__(self) -> tuple[Any, ...]:
        # Exception's own reduce replays __init__ with args only, which the keyword-only
        # arguments would reject; rebuild from the whole state instead.
        state = (self.message, self.url, self.transient, self.status)
        return _rebuild, (type(self), *state)


class Refused(HttpError):
    """Raised when the policy forbids a URL: scheme, host, private address, or files while off."""

    def __init__(self, message: str, *, url: str) -> None:
        super().__init__(message, url=url, transient=False)


def _rebuild(
    cls: type[HttpError], message: str, url: str, transient: bool, status: int | None
) -> HttpError:
    error = cls.__new__(cls)
    HttpError.__init__(error, message, url=url, transient=transient, status=status)
    return error
