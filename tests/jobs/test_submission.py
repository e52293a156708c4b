"""service.jobs.submission through the manager: kinds, parameter paths, and secrets and
payloads that reach the kind but never the store."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import ClassVar

import anyio
import msgspec
import pytest

from service.config import Settings, load_settings
from service.crypto import Password
from service.errors import BadParam
from service.jobs.kind import JobContext, Kind, Outcome
from service.jobs.kinds import KINDS
from service.jobs.model import JobState
from service.jobs.submission import check_submission
from tests.jobs._harness import finished, make_settings, names, running
from tests.jobs._kinds import PASSWORD, kinds

pytestmark = pytest.mark.anyio


class Size(msgspec.Struct):
    width: int
    height: int


class NestedParams(msgspec.Struct):
    sizes: list[Size]


class NestedKind:
    name: ClassVar[str] = "nested"
    params: ClassVar[type[msgspec.Struct]] = NestedParams
    secret_fields: ClassVar[tuple[str, ...]] = ()
    payload_fields: ClassVar[tuple[str, ...]] = ()

    def check(self, params: msgspec.Struct, settings: Settings) -> None:
        pass

    async def admit(self, params: msgspec.Struct, settings: Settings) -> None:
        return None  # nothing here needs more than check's look

    def timeout_s(self, settings: Settings) -> float | None:
        return None

    def max_running(self, settings: Settings) -> int | None:
        return None

    async def run(self, params: msgspec.Struct, context: JobContext) -> Outcome:
        raise NotImplementedError


def _check(params: dict[str, object], kind: Kind | None = None) -> BadParam:
    chosen = {"nested": kind or NestedKind()}
    with pytest.raises(BadParam) as bad:
        check_submission(chosen, "nested", params, secret=None, settings=load_settings(environ={}))
    return bad.value


def test_nested_parameter_errors_name_their_path_and_value() -> None:
    wrong = _check({"sizes": [{"width": 1, "height": 2}, {"width": "3", "height": 4}]})
    assert wrong.field == "params.sizes[1].width"
    assert str(wrong) == "params.sizes[1].width = '3': expected `int`, got `str`"
    missing = _check({"sizes": [{"width": 1}]})
    assert missing.field == "params.sizes[0].height"
    assert str(missing) == "params.sizes[0].height: object missing required field `height`"
    top = _check({})
    assert top.field == "params.sizes"
    not_an_object = _check([1, 2])  # type: ignore[arg-type]  # what a JSON body may hold
    assert not_an_object.field == "params"


async def test_a_kind_with_a_secret_needs_one(tmp_path: Path) -> None:
    async with running(make_settings(tmp_path), kinds()) as (manager, _):
        for secret in (None, ""):
            with pytest.raises(BadParam, match="the secret job needs a password") as bad:
                await manager.submit("secret", {"text": "hi"}, secret=secret)
            assert bad.value.field == "password"
        with pytest.raises(BadParam, match="a count job takes no password") as bad:
            await manager.submit("count", {}, secret=PASSWORD)
        assert bad.value.field == "password"


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"password": "a\nb"}, "params.password: the password holds a line break"),
        ({"password": "p" * 1024}, "params.password: the password is 1024 bytes: at most 1023"),
    ],
)
async def test_a_password_openssl_cannot_take_is_refused_at_submission(
    tmp_path: Path, params: dict[str, str], message: str
) -> None:
    async with running(make_settings(tmp_path), kinds()) as (manager, _):
        with pytest.raises(BadParam, match=message) as bad:
            await manager.submit("secret", {"text": "hi", **params})
        assert bad.value.field == "params.password"
        assert params["password"] not in str(bad.value)


async def test_the_password_is_wiped_when_its_job_ends(tmp_path: Path) -> None:
    password = Password(PASSWORD)
    async with running(make_settings(tmp_path), kinds()) as (manager, _):
        job = await manager.submit("secret", {"text": "hi"}, secret=password)
        assert (await finished(manager, job.id)).status is JobState.SUCCEEDED
    assert password.wiped


@pytest.mark.parametrize("where", ["argument", "params"])
async def test_the_secret_reaches_the_kind_and_never_the_store(tmp_path: Path, where: str) -> None:
    settings = make_settings(tmp_path)
    async with running(settings, kinds()) as (manager, store):
        if where == "argument":
            job = await manager.submit("secret", {"text": "hi"}, secret=PASSWORD)
        else:
            job = await manager.submit("secret", {"text": "hi", "password": PASSWORD})
        assert job.params == {"text": "hi"}
        assert job.needs_secret
        done = await finished(manager, job.id)
        assert done.status is JobState.SUCCEEDED
        assert done.result == {"digest": hashlib.sha256(f"{PASSWORD}:hi".encode()).hexdigest()}
        refused = await finished(
            manager, (await manager.submit("secret", {"text": "refuse"}, secret=PASSWORD)).id
        )
        assert refused.error is not None
        assert refused.error.message == "openssl refused the password"
        assert await store.check() == "ok"
    database = Path(settings.storage.path)
    files = [name for name in await names(database.parent) if name.startswith(database.name)]
    assert database.name in files
    for name in files:
        assert PASSWORD.encode() not in await anyio.Path(database.parent / name).read_bytes()


async def test_a_payload_reaches_the_kind_and_never_the_store(tmp_path: Path) -> None:
    # The base64 ``data`` of an encrypt job is its plaintext: it runs the job, and is no more
    # kept with the job (nor shown by GET /v1/jobs) than the password.
    settings = make_settings(tmp_path)
    plain = b"the plaintext that no job view or store file may hold\n"
    data = base64.b64encode(plain).decode()
    async with running(settings, {"encrypt": KINDS["encrypt"]}) as (manager, store):
        job = await manager.submit("encrypt", {"data": data}, secret=PASSWORD)
        assert "data" not in job.params
        assert job.needs_secret
        done = await finished(manager, job.id)
        assert done.status is JobState.SUCCEEDED, done.error
        assert "data" not in done.params
        assert done.result is not None
        assert done.result["bytes_in"] == len(plain)
        assert await store.check() == "ok"
    database = Path(settings.storage.path)
    files = [name for name in await names(database.parent) if name.startswith(database.name)]
    for name in files:
        held = await anyio.Path(database.parent / name).read_bytes()
        assert data.encode() not in held
        assert plain not in held
