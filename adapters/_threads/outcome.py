"""What a worker thread hands on for one item: its value, or the exception it raised."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, NoReturn, TypeAlias, TypeVar, final

__all__ = ["Done", "Failed", "Outcome"]

R = TypeVar("R")


@final
@dataclass(frozen=True, slots=True, repr=False)
class Done(Generic[R]):
    """The item was processed; ``value`` is what the function returned."""

    value: R

    def unwrap(self) -> R:
        """Return the value (so a next stage can call ``outcome.unwrap()`` on either kind)."""
        return self.value

    def __repr__(self) -> str:
        # The value may be a whole image or ciphertext: name its type only.
        return f"<Done {type(self.value).__name__}>"


@final
@dataclass(frozen=True, slots=True, repr=False)
class Failed:
    """The function raised ``error`` for the item; the worker thread itself carried on."""

    error: BaseException

    def unwrap(self) -> NoReturn:
        """Raise the error again, so a failure travels down a pipeline as a failure."""
        raise self.error

    def __repr__(self) -> str:
        return f"<Failed {self.error!r}>"


Outcome: TypeAlias = Done[R] | Failed
"""``Done(value)`` or ``Failed(error)``: match on it, or call ``unwrap()``."""
