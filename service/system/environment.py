"""The secrets of the process environment, taken out of it at the edge.

``fanout`` reads ``FANOUT_PASSWORD`` and ``FANOUT_TOKEN`` once, as it starts
(:func:`take_secrets`), and removes them from ``os.environ``, and so from the C environment
that every child would otherwise inherit: multiprocessing's forkserver, resource tracker and
worker processes are started by the standard library from that environment, with no way to
hand them another. The rest of the program asks :func:`secret`. Children that are other
programs (openssl) get an environment built for them instead (``adapters.environment``).
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping
from typing import Final

__all__ = [
    "PASSWORD_VARIABLE",
    "SECRET_VARIABLES",
    "TOKEN_VARIABLE",
    "forget_secrets",
    "secret",
    "take_secrets",
]

PASSWORD_VARIABLE: Final = "FANOUT_PASSWORD"
TOKEN_VARIABLE: Final = "FANOUT_TOKEN"
SECRET_VARIABLES: Final = (PASSWORD_VARIABLE, TOKEN_VARIABLE)

_taken: dict[str, str] = {}


def take_secrets(environ: MutableMapping[str, str] | None = None) -> None:
    """Move the secret variables out of ``environ`` (``os.environ``), forgetting earlier ones."""
    env = os.environ if environ is None else environ
    _taken.clear()
    for name in SECRET_VARIABLES:
        if (value := env.pop(name, None)) is not None:
            _taken[name] = value


def forget_secrets() -> None:
    """Drop what :func:`take_secrets` took (the command is done with them)."""
    _taken.clear()


def secret(name: str) -> str | None:
    """The secret variable ``name``: as set now (a library caller's), else as taken, else None."""
    if name not in SECRET_VARIABLES:
        raise ValueError(f"{name} is not one of the secret variables {SECRET_VARIABLES}")
    return os.environ.get(name, _taken.get(name))
