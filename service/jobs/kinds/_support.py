"""What every kind needs: its own parameters back from the protocol's ``msgspec.Struct``,
errors pinned on the parameter that caused them, and artifacts written atomically."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TypeVar

import msgspec
from anyio import to_thread

from service.errors import BadParam, FanoutError, InvalidInput, PayloadTooLarge

__all__ = ["blame", "expect", "write_atomic"]

_P = TypeVar("_P", bound=msgspec.Struct)


def expect(params: msgspec.Struct, kind: type[_P]) -> _P:
    """``params`` as the kind's own Struct; TypeError for a manager that mixed kinds up."""
    if not isinstance(params, kind):
        raise TypeError(f"expected {kind.__name__} parameters, got {type(params).__name__}")
    return params


@contextmanager
def blame(field: str) -> Iterator[None]:
    """Turn the library's InvalidInput into a BadParam on ``field`` (``params.rule``), so the
    API can point at the parameter; PayloadTooLarge keeps its type (HTTP 413, not 400)."""
    try:
        yield
    except (BadParam, PayloadTooLarge):
        raise
    except InvalidInput as exc:
        raise BadParam(f"{field}: {exc}", field=field) from exc


async def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` at ``path`` through a temporary name beside it, then rename."""
    await to_thread.run_sync(_write_atomic, path, data)


def _write_atomic(path: Path, data: bytes) -> None:
    partial = path.with_name(f".{path.name}.{secrets.token_hex(4)}.part")
    try:
        try:
            with partial.open("xb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.replace(partial, path)
        finally:
            with suppress(OSError):
                partial.unlink(missing_ok=True)
    except OSError as exc:
        raise FanoutError(
            f"cannot write the artifact {str(path)!r}: {exc.strerror or exc}"
        ) from exc
