"""The environment a child program gets: built for it from a short list, never a copy of ours.

Ours may hold what no child should see (a password or an API token in a variable, a cloud
credential, a proxy with a password in its URL): a child gets the variables it needs to run
and be told apart from a broken install, nothing else. ``/proc/PID/environ`` of a child is
readable by its user for as long as it runs.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Final

__all__ = ["CHILD_VARIABLES", "child_environment"]

CHILD_VARIABLES: Final = (
    "PATH",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "LC_MESSAGES",
    "TZ",
    "TMPDIR",
    # Where an OpenSSL 3 install keeps its configuration and providers (the legacy one).
    "OPENSSL_CONF",
    "OPENSSL_MODULES",
)
"""The variables a child keeps from ours, when we have them."""


def child_environment(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """A new environment holding only :data:`CHILD_VARIABLES` of ``environ`` (``os.environ``)."""
    env = os.environ if environ is None else environ
    return {name: env[name] for name in CHILD_VARIABLES if name in env}
