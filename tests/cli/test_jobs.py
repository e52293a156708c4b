"""``fanout jobs ...`` (service.cli.jobs) against a real daemon in this process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest

from service.cli.jobs import default_url, parse_params, read_password
from service.config import HttpSettings
from service.errors import InvalidInput
from service.testing import serve
from tests.fixtures import GLIDER


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.parametrize(
    ("host", "url"),
    [("127.0.0.1", "http://127.0.0.1:8080"), ("0.0.0.0", "http://127.0.0.1:8080"),
     ("::", "http://[::1]:8080"), ("example.com", "http://example.com:8080")],
)  # fmt: skip
def test_the_default_url_comes_from_the_config(host: str, url: str) -> None:
    assert default_url(HttpSettings(host=host, port=8080)) == url


def test_params_from_json_or_a_file(tmp_path: Path) -> None:
    assert parse_params('{"generations": 3}') == {"generations": 3}
    path = tmp_path / "params.json"
    path.write_text('{"pattern": "x"}')
    assert parse_params(f"@{path}") == {"pattern": "x"}
    with pytest.raises(InvalidInput, match="not JSON"):
        parse_params("{nope")
    with pytest.raises(InvalidInput, match="JSON object"):
        parse_params("[1]")
    with pytest.raises(InvalidInput, match="cannot read"):
        parse_params(f"@{tmp_path / 'missing.json'}")


def test_the_password_from_a_file_or_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FANOUT_PASSWORD", raising=False)
    assert read_password(None) is None
    monkeypatch.setenv("FANOUT_PASSWORD", "from-env")
    assert read_password(None) == "from-env"
    path = tmp_path / "pw"
    path.write_text("from-file\nignored\n")
    assert read_password(str(path)) == "from-file"
    path.write_text("\n")
    with pytest.raises(InvalidInput, match="empty"):
        read_password(str(path))


async def _fanout(url: str, *args: str, token: str | None = None) -> tuple[int, str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("FANOUT_")}
    if token is not None:
        env["FANOUT_TOKEN"] = token
    command = [sys.executable, "-m", "service", "jobs", "--url", url, *args]
    done = await anyio.run_process(command, env=env, check=False)
    return done.returncode, done.stdout.decode(), done.stderr.decode()


def _job(out: str) -> dict[str, Any]:
    assert out.count("\n") == 1, out
    job: dict[str, Any] = json.loads(out)
    return job


@pytest.mark.anyio
async def test_submit_wait_get_result_and_cancel(tmp_path: Path) -> None:
    params = json.dumps({"pattern": GLIDER, "generations": 2})
    async with serve(token="tok") as client:
        url = client.base_url
        code, out, err = await _fanout(url, "submit", "life", "--params", params, token="tok")
        assert code == 0, err
        job_id = _job(out)["id"]
        code, out, err = await _fanout(url, "wait", job_id, token="tok")
        assert code == 0, err
        assert _job(out)["status"] == "succeeded"
        code, out, _ = await _fanout(url, "get", job_id, token="tok")
        assert _job(out)["id"] == job_id
        target = tmp_path / "out.rle"
        code, _, err = await _fanout(url, "result", job_id, "-o", str(target), token="tok")
        assert code == 0, err
        code, out, _ = await _fanout(url, "result", job_id, "-o", "-", token="tok")
        assert out.encode() == target.read_bytes() == await client.result(job_id)
        code, _, err = await _fanout(url, "cancel", job_id, token="tok")
        assert code == 1
        assert err.startswith("fanout: error: job ")
        assert err.count("\n") == 1
        code, _, err = await _fanout(url, "get", job_id)
        assert code == 1
        assert "token" in err


@pytest.mark.anyio
async def test_submit_with_a_password_file_and_wait(tmp_path: Path) -> None:
    password = tmp_path / "pw"
    password.write_text("secret\n")
    params = json.dumps({"data": "aGVsbG8="})
    async with serve({"crypto": {"pbkdf2_iterations": 1_000}}) as client:
        code, out, err = await _fanout(
            client.base_url,
            "submit", "encrypt", "--params", params, "--password-file", str(password), "--wait",
        )  # fmt: skip
        assert code == 0, err
        job = _job(out)
        assert job["status"] == "succeeded"
        assert "password" not in job["params"]


@pytest.mark.anyio
async def test_bad_parameters_are_exit_2_with_one_line() -> None:
    async with serve() as client:
        code, _, err = await _fanout(client.base_url, "submit", "life", "--params", "{}")
    assert code == 2
    assert err.startswith("fanout: error: params.pattern")
    assert err.count("\n") == 1


@pytest.mark.anyio
async def test_result_to_a_path_that_cannot_be_a_file_is_refused(tmp_path: Path) -> None:
    params = json.dumps({"pattern": GLIDER, "generations": 1})
    async with serve() as client:
        url = client.base_url
        code, out, err = await _fanout(url, "submit", "life", "--params", params, "--wait")
        assert code == 0, err
        job_id = _job(out)["id"]
        for target, reason in [
            (tmp_path / "nonexist" / "x", "its directory"),
            (tmp_path, "it is a directory"),
        ]:
            code, _, err = await _fanout(url, "result", job_id, "-o", str(target))
            assert code == 2, err
            assert err.startswith(f"fanout: error: cannot write {str(target)!r}: {reason}")
            assert err.count("\n") == 1


@pytest.mark.anyio
@pytest.mark.parametrize("number", [signal.SIGINT, signal.SIGTERM])
async def test_an_interrupted_result_leaves_no_file(tmp_path: Path, number: signal.Signals) -> None:
    big = os.urandom(1 << 20) * 96  # 96 MiB of ciphertext to fetch
    async with serve({"crypto": {"pbkdf2_iterations": 1_000}}) as client:
        job = await client.upload("encrypt", big, password="pw")
        target = tmp_path / "out" / "x.enc"
        target.parent.mkdir()
        env = {key: value for key, value in os.environ.items() if not key.startswith("FANOUT_")}
        command = [sys.executable, "-m", "service", "jobs", "--url", client.base_url]
        async with await anyio.open_process(
            [*command, "result", job.id, "-o", str(target)], env=env
        ) as process:
            with anyio.fail_after(60):
                # Polling the directory: the partial file appearing is the only sign.
                while not any(target.parent.iterdir()):  # noqa: ASYNC110  # polling: there is no event to wait on
                    await anyio.sleep(0.002)
            process.send_signal(number)
            code = await process.wait()
    assert code == 130
    assert list(target.parent.iterdir()) == []


@pytest.mark.anyio
async def test_messages_name_this_commands_way_of_giving_things(tmp_path: Path) -> None:
    async with serve(token="tok") as client:
        url = client.base_url
        code, _, err = await _fanout(url, "get", "0123")
        assert code == 1
        assert "set FANOUT_TOKEN or use 'fanout jobs --token-file FILE'" in err
        assert err.count("\n") == 1
        token = tmp_path / "token"
        token.write_text("tok\n")
        code, _, err = await _fanout(url, "--token-file", str(token), "get", "doesnotexist")
        assert code == 1
        assert err.startswith("fanout: error: no job 'doesnotexist'")
        code, _, err = await _fanout(url, "--token-file", str(token), "submit", "encrypt")
        assert code == 2
        assert "use --password-file FILE or set FANOUT_PASSWORD" in err


@pytest.mark.parametrize("length", [1_500, 5_000])
def test_a_long_password_file_is_refused_with_its_length(tmp_path: Path, length: int) -> None:
    password = tmp_path / "pw"
    password.write_bytes(b"p" * length + b"\n")
    source = tmp_path / "in"
    source.write_bytes(b"x")
    env = {key: value for key, value in os.environ.items() if not key.startswith("FANOUT_")}
    output = ["-o", str(tmp_path / "out"), "--password-file", str(password)]
    done = subprocess.run(
        [sys.executable, "-m", "service", "encrypt", str(source), *output],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert f"the password is {length} bytes: at most 1023" in done.stderr
