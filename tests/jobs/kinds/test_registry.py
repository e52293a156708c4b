"""``service.jobs.kinds``: every kind the job model names, each complete."""

from __future__ import annotations

import msgspec
import pytest

from service.config import JobSettings, Settings
from service.jobs import model
from service.jobs.kind import Kind
from service.jobs.kinds import KINDS, CryptoParams, LifeParams, PipelineParams


def test_every_kind_of_the_model_is_registered_in_its_order() -> None:
    assert tuple(KINDS) == model.KINDS
    assert all(kind.name == name for name, kind in KINDS.items())
    with pytest.raises(TypeError):
        KINDS["other"] = KINDS["life"]  # type: ignore[index]  # read-only on purpose: the write must fail


@pytest.mark.parametrize("name", model.KINDS)
def test_each_kind_publishes_a_strict_schema_and_names_real_secret_fields(name: str) -> None:
    kind: Kind = KINDS[name]
    schema = msgspec.json.schema(kind.params)
    definition = schema["$defs"][kind.params.__name__]
    assert definition["type"] == "object"
    assert set(kind.secret_fields) <= set(definition["properties"])
    assert kind.params.__struct_config__.forbid_unknown_fields
    assert kind.params.__struct_config__.frozen
    timeout = kind.timeout_s(Settings())
    assert timeout is None or timeout > 0


def test_each_kind_is_bounded_by_its_own_jobs_key() -> None:
    jobs = JobSettings(
        max_running_life=1, max_running_encrypt=2, max_running_decrypt=3, max_running_pipeline=5
    )
    bounds = {name: kind.max_running(Settings(jobs=jobs)) for name, kind in KINDS.items()}
    assert bounds == {"life": 1, "encrypt": 2, "decrypt": 3, "pipeline": 5}
    assert KINDS["life"].max_running(Settings()) == 2


def test_params_models_are_exported() -> None:
    assert KINDS["life"].params is LifeParams
    assert KINDS["encrypt"].params is KINDS["decrypt"].params is CryptoParams
    assert KINDS["pipeline"].params is PipelineParams
    assert KINDS["encrypt"].secret_fields == ("password",)
    assert KINDS["life"].secret_fields == KINDS["pipeline"].secret_fields == ()


def test_a_kind_refuses_another_kinds_params() -> None:
    with pytest.raises(TypeError, match="expected LifeParams parameters, got PipelineParams"):
        KINDS["life"].check(PipelineParams(sources=["x"], destination="d"), Settings())
