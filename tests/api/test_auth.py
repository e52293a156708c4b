"""service.api.auth: where the token comes from, and which routes demand it."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.api.auth import is_protected, load_token
from service.config import HttpSettings
from service.errors import ConfigError
from service.testing import serve
from tests.api._http import request

pytestmark = pytest.mark.anyio

TOKEN = "0123456789abcdef"


def test_no_token_anywhere_is_none() -> None:
    assert load_token(HttpSettings(), environ={}) is None


def test_the_environment_wins_over_the_file(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("from-file\n")
    settings = HttpSettings(token_file=str(path))
    assert load_token(settings, environ={"FANOUT_TOKEN": " from-env "}) == "from-env"
    assert load_token(settings, environ={}) == "from-file"


def test_only_the_first_line_of_the_file_counts(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("first\nsecond\n")
    assert load_token(HttpSettings(token_file=str(path)), environ={}) == "first"


def test_a_token_file_that_gives_no_token_is_a_config_error(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.write_text("\nsecond\n")
    with pytest.raises(ConfigError, match="first line is empty"):
        load_token(HttpSettings(token_file=str(empty)), environ={})
    with pytest.raises(ConfigError, match="cannot read it"):
        load_token(HttpSettings(token_file=str(tmp_path / "missing")), environ={})


@pytest.mark.parametrize(
    ("path", "protected"),
    [
        ("/v1/jobs", True),
        ("/v1/jobs/x/events", True),
        ("/v1", True),
        ("/metrics", True),
        ("/healthz", False),
        ("/openapi.json", False),
        ("/v10", False),
    ],
)
def test_which_paths_need_the_token(path: str, protected: bool) -> None:
    assert is_protected(path) is protected


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong", f"Basic {TOKEN}", "Bearer", f"bearer {TOKEN}x"],
)
async def test_v1_and_metrics_refuse_a_missing_or_wrong_token(authorization: str | None) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    async with serve(token=TOKEN) as client:
        for method, path in (("GET", "/v1/jobs"), ("POST", "/v1/jobs"), ("GET", "/metrics")):
            reply = await request(client, method, path, headers=headers)
            assert reply.status == 401, (method, path)
            assert reply.headers["WWW-Authenticate"].startswith("Bearer")
            assert reply.error()["type"] == "Unauthorized"


async def test_the_right_token_passes_and_open_routes_need_none() -> None:
    async with serve(token=TOKEN) as client:
        for scheme in ("Bearer", "bearer"):
            headers = {"Authorization": f"{scheme} {TOKEN}"}
            assert (await request(client, "GET", "/v1/jobs", headers=headers)).status == 200
            assert (await request(client, "GET", "/metrics", headers=headers)).status == 200
        assert (await request(client, "GET", "/healthz")).status == 200
        assert (await request(client, "GET", "/openapi.json")).status == 200


async def test_without_a_token_the_api_is_open() -> None:
    async with serve() as client:
        assert (await request(client, "GET", "/v1/jobs")).status == 200
        assert (await request(client, "GET", "/metrics")).status == 200
