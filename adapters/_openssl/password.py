"""A password that reaches openssl through a pipe (``-pass fd:N``) and nowhere else.

Not in argv (any local user can read /proc/PID/cmdline), not in the environment, not in a
repr, a log line or an error message.
"""

from __future__ import annotations

import os
from typing import Final, final

from adapters._openssl.errors import BadPassword

__all__ = ["MAX_PASSWORD_BYTES", "Password"]

MAX_PASSWORD_BYTES: Final = 1023
"""openssl reads ``fd:N`` into a 1024-byte buffer: a longer password is cut short silently."""


@final
class Password:
    """Password bytes that print as ``Password(***)``; :meth:`pipe` hands them to a child.

    The bytes live in a ``bytearray`` of the object's own (a copy of what it was given), so
    :meth:`wipe` can overwrite them with zeros when the password is done with; a ``str`` or
    ``bytes`` the caller gave cannot be wiped, which is why the edges (the CLI, the HTTP
    handler) make a ``Password`` as soon as the text arrives and keep nothing else.
    """

    __slots__ = ("_secret",)

    def __init__(self, secret: str | bytes | bytearray) -> None:
        data = bytearray(_utf8(secret) if isinstance(secret, str) else secret)
        problem = _problem(data)
        if problem is not None:
            data[:] = bytes(len(data))
            raise BadPassword(problem)
        self._secret = data

    def __repr__(self) -> str:
        return "Password(***)"

    __str__ = __repr__

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("a Password is not pickled: it must not leave this process")

    @property
    def wiped(self) -> bool:
        """Whether :meth:`wipe` has run: such a password can no longer be handed to a child."""
        return not self._secret

    def wipe(self) -> None:
        """Overwrite the bytes with zeros and forget them (idempotent)."""
        self._secret[:] = bytes(len(self._secret))
        self._secret.clear()

    def pipe(self) -> int:
        """A pipe's read end holding the password and a newline, its write end closed.

        The password is far below a pipe's buffer, so writing never blocks. The caller passes
        the fd to one child (``pass_fds``) and closes it once the child has started.
        ValueError once the password was wiped.
        """
        if self.wiped:
            raise ValueError("the password was wiped: it can no longer be used")
        read, write = os.pipe()
        line = bytearray(self._secret)
        line.append(0x0A)
        try:
            view = memoryview(line)
            while view:
                view = view[os.write(write, view) :]
            view.release()
        except BaseException:
            os.close(read)
            raise
        finally:
            line[:] = bytes(len(line))
            os.close(write)
        return read


def _problem(data: bytearray) -> str | None:
    if not data:
        return "the password is empty"
    if len(data) > MAX_PASSWORD_BYTES:
        return (
            f"the password is {len(data)} bytes: at most {MAX_PASSWORD_BYTES} "
            "(openssl cuts longer ones short)"
        )
    if any(byte in data for byte in b"\n\r\0"):
        return (
            "the password holds a line break or a NUL byte: openssl reads one line up to "
            "the first of them"
        )
    return None


def _utf8(secret: str) -> bytes:
    # A str holds lone surrogates when it was decoded with surrogateescape from bytes that are
    # not UTF-8 (an HTTP header, the environment): refused, and never quoted, not even in part.
    try:
        return secret.encode()
    except UnicodeEncodeError:
        raise BadPassword("the password is not UTF-8 text: give it as UTF-8") from None
