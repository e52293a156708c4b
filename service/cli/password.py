"""The password of ``fanout encrypt``, ``decrypt`` and ``pipeline --encrypt``, as a ``Password``.

It comes from ``--password-file`` (its first line), else ``FANOUT_PASSWORD``, else a no-echo
prompt on a terminal - never from argv, which any local user can read in /proc/PID/cmdline.
A file's line is read into a buffer of our own, made a ``Password`` and the buffer zeroed; the
command wipes the ``Password`` when its work is done.
"""

from __future__ import annotations

import io
import os
from typing import Final, TextIO

import click

from service.crypto import MAX_PASSWORD_BYTES, BadPassword, Password
from service.errors import InvalidInput
from service.system.environment import PASSWORD_VARIABLE, secret

__all__ = ["find_password", "is_terminal"]

# A first line read whole up to here, so a password past openssl's limit is refused with its
# own length (a file is not a place for a password of megabytes: past this, "more than").
_LINE_LIMIT: Final = 1 << 16


def is_terminal(stream: TextIO | None) -> bool:
    return stream is not None and stream.isatty()  # None: started with the stream closed


def find_password(path: str | None, *, confirm: bool, can_prompt: bool) -> Password:
    """The first line of ``path``, else ``$FANOUT_PASSWORD``, else what is typed at a prompt;
    InvalidInput for none, or one openssl cannot take."""
    if path is not None:
        return _read_password_file(path)
    if (value := secret(PASSWORD_VARIABLE)) is not None:
        if not value:
            raise InvalidInput(f"{PASSWORD_VARIABLE} is set but empty")
        return _password(os.fsencode(value))
    if not can_prompt:
        raise InvalidInput(f"no password: use --password-file F or set {PASSWORD_VARIABLE}")
    return _prompt(confirm=confirm)


def _read_password_file(path: str) -> Password:
    line = bytearray(_LINE_LIMIT)
    try:
        with open(path, "rb", buffering=0) as file:
            size = _first_line(file, line)
    except OSError as exc:
        raise InvalidInput(f"cannot read password file {path!r}: {exc.strerror or exc}") from exc
    try:
        if size < 0:
            raise InvalidInput(
                f"password file {path!r}: its first line is more than {_LINE_LIMIT:,} bytes; a "
                f"password is at most {MAX_PASSWORD_BYTES:,}"
            )
        end = size - 1 if size and line[size - 1] == 0x0D else size
        if end == 0:
            raise InvalidInput(
                f"password file {path!r} is empty: put the password on its first line"
            )
        return _password(memoryview(line)[:end])
    finally:
        line[:] = bytes(len(line))


def _first_line(file: io.FileIO, into: bytearray) -> int:
    """Read into ``into`` up to the first newline (not kept); its length, or -1 past the limit."""
    filled = 0
    view = memoryview(into)
    while filled < len(into):
        count = file.readinto(view[filled:])
        if not count:  # the end of the file (a FileIO on a regular file never returns None)
            return filled
        newline = into.find(b"\n", filled, filled + count)
        if newline >= 0:
            return newline
        filled += count
    return -1


def _prompt(*, confirm: bool) -> Password:
    try:
        typed: str = click.prompt(
            "Password", hide_input=True, confirmation_prompt=confirm, err=True
        )
    except UnicodeDecodeError:
        # The codec's message quotes the offending byte: a byte of the password.
        raise InvalidInput("the password typed is not text in the terminal's encoding") from None
    return _password(os.fsencode(typed))


def _password(secret: bytes | memoryview) -> Password:
    try:
        return Password(bytearray(secret))
    except BadPassword as exc:
        raise InvalidInput(str(exc)) from exc
