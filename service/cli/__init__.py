"""The ``fanout`` command line: one module per command, imported when its command runs.

app         ``main``: the root group, and every error as one line and an exit code
serve       ``fanout serve``
life        ``fanout life``
crypto      ``fanout encrypt`` and ``fanout decrypt``
pipeline    ``fanout pipeline``
jobs        ``fanout jobs submit|get|wait|cancel|result``, through ``service.client``
bench       ``fanout bench``
interrupt   Ctrl-C as a cancellation of the running command's task group
"""

from __future__ import annotations

from service.cli.app import main

__all__ = ["main"]
