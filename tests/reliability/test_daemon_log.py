"""What a real daemon writes to its log for hostile or broken clients: plain text, one line.

A request path with ESC ... BEL would retitle the terminal of an operator watching ``make
run``; a NUL would cut the line short for many tools. A client that hangs up mid-body is
the client's doing, not a bug of ours.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

import anyio
import pytest

from service.api.logs import escape_controls, line
from tests.api._http import eventually
from tests.reliability._daemon import spawned
from tests.reliability._raw import exchange

pytestmark = pytest.mark.anyio

TOKEN: Final = "log-test-token"


def _controls(text: str) -> list[str]:
    return [c for c in text if (ord(c) < 0x20 and c != "\n") or 0x7F <= ord(c) < 0xA0]


@pytest.mark.parametrize(
    "target",
    [b"/v1/x%1b%5d0;PWNED%07", b"/v1/jobs/%00nul", b"/v1/%c2%9bcsi", b"/v1/a%0d%0aforged"],
)
async def test_no_control_character_reaches_the_log(tmp_path: Path, target: bytes) -> None:
    async with spawned(tmp_path, {"FANOUT_TOKEN": TOKEN}, echo=False) as daemon:
        reply = await exchange(daemon.url, b"GET", target)
        assert reply.status == 401

        async def logged() -> bool:
            return any("status=401" in each for each in daemon.lines)

        await eventually(logged)
        (access,) = [each for each in daemon.lines if "status=401" in each]
    assert _controls(daemon.log) == []
    assert "\\x" in access or "\\r\\n" in access


async def test_a_client_that_hangs_up_mid_body_is_one_warning(tmp_path: Path) -> None:
    async with spawned(tmp_path, {"FANOUT_TOKEN": TOKEN}, echo=False) as daemon:
        where = urlsplit(daemon.url)
        assert where.hostname is not None
        assert where.port is not None
        head = (
            b"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
            + TOKEN.encode()
            + b"\r\nContent-Type: application/json\r\nContent-Length: 20\r\n\r\n"
        )
        async with await anyio.connect_tcp(where.hostname, where.port) as stream:
            await stream.send(head + b"x" * 19)

        async def logged() -> bool:
            return any("path=/v1/jobs status=" in each for each in daemon.lines)

        await eventually(logged)
    assert "Traceback" not in daemon.log
    assert " ERROR " not in daemon.log
    assert "status=500" not in daemon.log
    (gone,) = [each for each in daemon.lines if "client gone" in each]
    assert " WARNING " in gone
    assert any("path=/v1/jobs status=499" in each for each in daemon.lines)


def test_escape_controls_writes_every_control_out() -> None:
    assert escape_controls("a\x1b]0;x\x07b\x00\n\r\t\x9b\u2028\udc8f") == (
        "a\\x1b]0;x\\x07b\\x00\\n\\r\\t\\x9b\\u2028\\udc8f"
    )
    assert line("http", path="/v1/\x1b[2J") == 'http path="/v1/\\x1b[2J"'
