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
    """Password bytes that print as ``Password(***)``; :meth:`pipe` hands them to a child."""

    __slots__ = ("_secret",)

    def __init__(self, secret: str | bytes) -> None:
        data = _utf8(secret) if isinstance(secret, str) else bytes(secret)
        if not data:
            raise BadPassword("the password is empty")
        if len(data) > MAX_PASSWORD_BYTES:
            raise BadPassword(
                f"the password is {len(data)} bytes: at most {MAX_PASSWORD_BYTES} "
                "(openssl cuts longer ones short)"
            )
        if any(byte in data for byte in b"\n\r\0"):
            raise BadPassword(
                "the password holds a line break or a NUL byte: openssl reads one line up to "
                "the first of them"
            )
        self._secret = data

    def __repr__(self) -> str:
        return "Password(***)"

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("a Password is not pickled: it must not leave this process")

    def pipe(self) -> int:
        """A pipe's read end holding the password and a newline, its write end closed.

        The password is far below a pipe's buffer, so writing never blocks. The caller passes
        the fd to one child (``pass_fds``) and closes it once the child has started.
        """
        read, write = os.pipe()
        try:
            view = memoryview(self._secret + b"\n")
            while view:
                view = view[os.write(write, view) :]
        except BaseException:
            os.close(read)
            raise
        finally:
            os.close(write)
        return read


def _utf8(secret: str) -> bytes:
    # A str holds lone surrogates when it was decoded with surrogateescape from bytes that are
    # not UTF-8 (an HTTP header, the environment): refused, and never quoted, not even in part.
    try:
        return secret.encode()
    except UnicodeEncodeError:
        raise BadPassword("the password is not UTF-8 text: give it as UTF-8") from None
