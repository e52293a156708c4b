"""The daemon's HTTP API from Python: ``Client`` (typed, async, on aiohttp's client).

session     ``Client`` and ``JobPage``: submit, get, list, wait, cancel, result, events
errors      a problem+json answer back into the ``service.errors`` class the daemon raised
events      the Server-Sent Events parser ``Client.events`` reads with
"""

from __future__ import annotations

from service.client.session import Client, JobPage

__all__ = ["Client", "JobPage"]
