"""openssl's stderr, summarised into one line a person can act on.

openssl prints a short reason ("bad decrypt") and then its error queue
("40278A08A77F0000:error:1C800064:Provider routines:...:bad decrypt:file.c:124:"). The reason
is what a user needs; the queue is for openssl's developers.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["summarise"]

# Reasons openssl gives, in the order they should win, and what they mean to a user.
_KNOWN: Final = (
    ("bad decrypt", "bad decrypt: wrong password or corrupted input"),
    ("wrong final block length", "corrupted or truncated input (wrong final block length)"),
    (
        "bad magic number",
        "not an `openssl enc` ciphertext: it does not start with 'Salted__'",
    ),
    ("error reading input file", "the input is empty or too short to be a ciphertext"),
)
_QUEUE_LINE: Final = re.compile(r"^[0-9A-F]+:error:[0-9A-F]+:(?P<rest>.*)$")
_LONGEST: Final = 240


def summarise(role: str, stderr: str) -> str:
    """One line: a known reason in plain words, else openssl's own first reason."""
    lowered = stderr.lower()
    for marker, meaning in _KNOWN:
        if marker in lowered and (role == "enc" or marker != "bad decrypt"):
            return meaning
    for line in stderr.splitlines():
        line = line.strip()
        if not line or line.startswith(f"{role}: Use -help"):
            continue
        if match := _QUEUE_LINE.match(line):
            # "Provider routines:fn:reason:file.c:124:" -> "reason"
            parts = [part for part in match["rest"].split(":") if part]
            line = parts[2] if len(parts) >= 3 else match["rest"]
        return line[:_LONGEST]
    return ""
