"""A crypto job's input: the streamed request body, or a small payload inline as base64.

Both arrive as chunks through :func:`counted`, which reports progress and refuses a payload
past its limit as it streams: the body is never held in memory, and an upload that lies
about its size (or sends none) still stops at the limit.
"""

from __future__ import annotations

import binascii
from collections.abc import AsyncIterable, AsyncIterator, Callable
from typing import Final

from service.errors import BadParam, PayloadTooLarge

__all__ = ["MAX_DATA_CHARS", "chunks_of", "counted", "decode_data"]

MAX_DATA_CHARS: Final = 1 << 20
"""The longest base64 ``data`` a job takes inline (1 MiB of text, 768 KiB of payload)."""


def decode_data(text: str, *, max_bytes: int) -> bytes:
    """``params.data`` decoded as strict base64 (RFC 4648: no line breaks, exact padding)."""
    if len(text) > MAX_DATA_CHARS:
        raise PayloadTooLarge(
            f"params.data is {len(text):_} characters of base64, past the {MAX_DATA_CHARS:_} "
            "taken inline: send a larger payload as the request body, which is streamed"
        )
    try:
        data = binascii.a2b_base64(text, strict_mode=True)
    except (binascii.Error, ValueError) as exc:
        # ValueError: a character outside ASCII; binascii.Error: the rest (padding, alphabet).
        raise _not_base64(str(exc)) from None
    # strict_mode still takes padding past a whole quantum ("YWJj=") and stray low bits in
    # the last character ("YWJ="): one spelling per payload, or two clients' texts differ.
    if binascii.b2a_base64(data, newline=False) != text.encode("ascii"):
        raise _not_base64("the padding or the last character is not canonical")
    if len(data) > max_bytes:
        raise PayloadTooLarge(
            f"params.data decodes to {len(data):_} bytes, past crypto.max_payload_bytes = "
            f"{max_bytes:_}"
        )
    return data


def _not_base64(reason: str) -> BadParam:
    return BadParam(
        f"params.data is not strict base64 ({reason}): use the standard alphabet "
        "(A-Z a-z 0-9 + /) with '=' padding to a multiple of 4, no spaces or line breaks",
        field="params.data",
    )


async def chunks_of(data: bytes, size: int) -> AsyncIterator[bytes]:
    """``data`` in chunks of at most ``size`` bytes."""
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def counted(
    chunks: AsyncIterable[bytes],
    *,
    limit: int,
    progress: Callable[[int, int], None],
    total: int = 0,
) -> AsyncIterator[bytes]:
    """``chunks`` passed on, counted: progress (bytes so far of ``total``, 0 when unknown)
    after each, PayloadTooLarge as soon as they go past ``limit`` bytes."""
    done = 0
    try:
        async for chunk in chunks:
            done += len(chunk)
            if done > limit:
                raise PayloadTooLarge(
                    f"the payload is larger than crypto.max_payload_bytes = {limit:_} bytes: "
                    "stopped after reading more than that"
                )
            progress(done, total)
            yield chunk
    finally:
        # Stopped early (a failure, the limit, a cancel): close the source now, in this task,
        # rather than leave an async generator to the garbage collector.
        close = getattr(chunks, "aclose", None)
        if close is not None:
            await close()
