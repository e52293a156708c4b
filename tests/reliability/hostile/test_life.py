"""Hostile Life jobs: refused at submission, the pattern read and the run settled."""

from __future__ import annotations

import base64
from typing import Any, Final

import pytest

from service.errors import FanoutError
from service.jobs.kinds.life import MAX_PATTERN_BYTES
from service.jobs.model import JobState
from service.testing import serve
from tests.fixtures import GLIDER
from tests.reliability.hostile._cases import (
    FAST,
    life,
    refusal_test,
)

LIFE_CASES: Final = [
    life(
        "rule-not-b/s",
        {"random": "8x8", "rule": "B3/S23/X"},
        "params.rule",
        "rule 'B3/S23/X' is not B/S notation",
        "write B3/S23",
    ),
    life(
        "rule-count-9",
        {"random": "8x8", "rule": "B9/S"},
        "params.rule",
        "neighbour count of 9: counts are 0 to 8",
    ),
    life("rule-empty", {"random": "8x8", "rule": ""}, "params.rule", "is not B/S notation"),
    life(
        "grid-from-rule-suffix",
        {"random": "8x8", "rule": "B3/S23:T99999,99999"},
        "params.rule",
        "a 99999x99999 grid has 9_999_800_001 cells",
        "life.max_cells",
    ),
    life(
        "grid-from-size",
        {"random": "8x8", "topology": "torus", "size": "100000x100000"},
        "params.size",
        "past life.max_cells = 67_108_864",
    ),
    life(
        "grid-from-random",
        {"random": "100000x100000"},
        "params.random",
        "a 100000x100000 grid",
        "life.max_cells",
    ),
    life(
        "size-on-the-infinite-plane",
        {"random": "8x8", "topology": "infinite", "size": "8x8"},
        "params.size",
        "applies to a torus or a plane",
    ),
    life(
        "generations-over-the-limit",
        {"random": "8x8", "generations": 10**12},
        "params.generations",
        "life.max_generations",
    ),
    life(
        "unknown-topology",
        {"random": "8x8", "topology": "klein"},
        "params.topology",
        "choose one of infinite, torus, plane",
    ),
    life("unknown-engine", {"random": "8x8", "engine": "gpu"}, "params.engine", "choose one of"),
    life(
        "pattern-too-long",
        {"pattern": "b" * (MAX_PATTERN_BYTES + 1)},
        "params.pattern",
        "past the limit of 1_048_576 bytes (1 MiB)",
    ),
    life("pattern-and-random", {"pattern": GLIDER, "random": "8x8"}, "params.pattern", "not both"),
]


test_refused_with_a_status_and_a_message = refusal_test(life=LIFE_CASES)


SETTLED_CASES: Final = [
    # A Life run is settled before the job is accepted (LifeKind.admit): a 400, and no job.
    pytest.param(
        "life",
        {"pattern": "x = 3, y = 3\nbqb$!"},
        "PatternError",
        ("params.pattern:2:2: unexpected 'q' in RLE data", "use b, o, $, digits and !"),
        id="rle/unexpected-character",
    ),
    pytest.param(
        "life",
        {"pattern": "x = 3, y = 3\n999999999999999999999o!"},
        "PatternError",
        ("params.pattern:2:1:", "reaches column 999999999999999999999, past the header's x = 3"),
        id="rle/huge-run-count",
    ),
    pytest.param(
        "life",
        {"pattern": "x = 99999999, y = 99999999\n99999999o!"},
        "LimitExceeded",
        ("params.pattern:1:", "99999999x99999999 cells is larger than the limit of 67108864"),
        id="rle/header-past-max-cells",
    ),
    pytest.param(
        "life",
        {"pattern": "x = 3, y = 3, rule = B9/S\nbo!"},
        "PatternError",
        ("params.pattern:1:22:", "counts are 0 to 8"),
        id="rle/invalid-rule-in-the-header",
    ),
    pytest.param(
        "life",
        {"pattern": "#Life 1.06\n99999999 99999999\n-99999999 -99999999\n"},
        "LimitExceeded",
        ("a pattern of 199999999x199999999 cells is larger than the limit",),
        id="lif/cells-far-apart",
    ),
    pytest.param(
        "life",
        {"pattern": "\x00\x01\x02"},
        "PatternError",
        ("cannot tell the format", "expected an RLE header 'x = ...'"),
        id="pattern/binary",
    ),
    pytest.param(
        "life",
        {"pattern": ""},
        "PatternError",
        ("the input is empty",),
        id="pattern/empty",
    ),
    pytest.param(
        "life",
        {"random": "8x8", "rule": "B03/S23"},
        "Unsupported",
        ("gives birth with 0 neighbours", "torus or plane"),
        id="rule/B0-on-the-infinite-plane",
    ),
]


@pytest.mark.anyio
@pytest.mark.parametrize(("kind", "params", "type", "says"), SETTLED_CASES)
async def test_refused_at_submission_having_been_settled(
    kind: str, params: dict[str, Any], type: str, says: tuple[str, ...]
) -> None:
    async with serve(FAST) as client:
        with pytest.raises(FanoutError) as refused:
            await client.submit(kind, params)
        assert (await client.list()).jobs == []
    assert refused.type.__name__ == type
    for words in says:
        assert words in str(refused.value), refused.value


RUN_CASES: Final = [
    pytest.param(
        "decrypt",
        {"data": ""},
        "CryptoFailed",
        ("the input is empty or too short to be a ciphertext",),
        id="decrypt/empty",
    ),
    pytest.param(
        "decrypt",
        {"data": base64.b64encode(b"certainly not a ciphertext").decode()},
        "CryptoFailed",
        ("not an `openssl enc` ciphertext",),
        id="decrypt/not-a-ciphertext",
    ),
]


@pytest.mark.anyio
@pytest.mark.parametrize(("kind", "params", "type", "says"), RUN_CASES)
async def test_refused_when_the_job_runs(
    kind: str, params: dict[str, Any], type: str, says: tuple[str, ...]
) -> None:
    if kind != "life":
        params = {"password": "pw", "data": "aGk=", **params}
    async with serve(FAST) as client:
        job = await client.wait((await client.submit(kind, params)).id, timeout_s=30)
    assert job.status is JobState.FAILED
    assert job.error is not None
    assert job.error.type == type, job.error
    for words in says:
        assert words in job.error.message, job.error
