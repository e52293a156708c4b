"""Every test here talks to aiohttp (a server or its client), which runs on asyncio only."""

from __future__ import annotations

import pytest


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
