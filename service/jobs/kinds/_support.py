"""What every kind needs: its own parameters back from the protocol's ``msgspec.Struct``,
errors pinned on the parameter that caused them, and artifacts written atomically."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TypeVar

import msgspec

from service.errors import BadParam, InvalidInput, PayloadTooLarge

__all__ = ["blame", "expect"]

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
