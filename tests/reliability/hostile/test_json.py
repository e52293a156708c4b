"""Hostile JSON bodies: malformed, mistyped, out-of-range numbers; each refused with its 4xx."""

from __future__ import annotations

from typing import Final

from service.api.bodies import JSON_LIMIT
from tests.fixtures import GLIDER
from tests.reliability.hostile._cases import (
    _NOT_UTF8,
    _NOT_UTF8_KEY,
    _NOT_UTF8_VALUE,
    DEEP,
    MALFORMED,
    OVERLONG,
    TOO_DEEP,
    at,
    encrypt,
    life,
    pipeline,
    refusal_test,
    submit,
)

JSON_CASES: Final = [
    submit(
        "nested-100k-arrays-as-the-body",
        b"[" * DEEP + b"]" * DEEP,
        type="InvalidInput",
        says=("got a JSON array",),
    ),
    submit(
        "nested-100k-arrays-in-params",
        b'{"kind": "life", "params": {"pattern": ' + b"[" * DEEP + b"]" * DEEP + b"}}",
        type="InvalidInput",
        says=(MALFORMED, *TOO_DEEP),
    ),
    submit(
        "nested-100k-objects-as-params",
        b'{"kind": "life", "params": ' + b'{"a": ' * DEEP + b"1" + b"}" * DEEP + b"}",
        type="InvalidInput",
        says=(MALFORMED, *TOO_DEEP),
    ),
    submit(
        "nested-100k-arrays-as-the-kind",
        b'{"kind": ' + b"[" * DEEP + b"]" * DEEP + b"}",
        field="kind",
        says=("Expected `str`, got `array`",),
    ),
    submit(
        "truncated",
        b'{"kind": "life", "params": {',
        type="InvalidInput",
        says=(MALFORMED, "truncated"),
    ),
    submit(
        "trailing-garbage",
        b'{"kind": "life"} x',
        type="InvalidInput",
        says=(MALFORMED, "trailing characters"),
    ),
    submit(
        "NaN-literal",
        b'{"kind": "life", "params": {"random": "8x8", "generations": NaN}}',
        type="InvalidInput",
        says=(MALFORMED, "invalid character (byte 60)"),
    ),
    submit(
        "Infinity-literal",
        b'{"kind": "life", "params": {"generations": -Infinity}}',
        type="InvalidInput",
        says=(MALFORMED, "invalid character"),
    ),
    submit(
        "1e999-in-params",
        b'{"kind": "life", "params": {"random": "8x8", "generations": 1e999}}',
        field="params",
        says=("Number out of range", "finite", "(in one of its values)"),
    ),
    submit(
        "-1e999-deep-in-params",
        b'{"kind": "pipeline", "params": {"sources": [-1e999]}}',
        field="params",
        says=("Number out of range", "finite"),
    ),
    submit(
        "1e999-as-the-kind",
        b'{"kind": 1e999}',
        field="kind",
        says=("kind: Number out of range", "finite"),
    ),
    submit(
        "utf8-byte-order-mark",
        b'\xef\xbb\xbf{"kind": "life"}',
        type="InvalidInput",
        says=(MALFORMED, "byte 0"),
    ),
    submit(
        "not-utf8-in-a-value",
        _NOT_UTF8_VALUE,
        type="InvalidInput",
        says=(MALFORMED, at(_NOT_UTF8_VALUE, b"\xff"), *_NOT_UTF8),
    ),
    submit(
        "not-utf8-in-a-key",
        _NOT_UTF8_KEY,
        type="InvalidInput",
        says=(at(_NOT_UTF8_KEY, b"\xc3"), *_NOT_UTF8),
    ),
    submit(
        "overlong-utf8",
        OVERLONG,
        type="InvalidInput",
        says=(at(OVERLONG, b"\xc0"), *_NOT_UTF8),
    ),
    submit(
        "empty-body",
        b"",
        type="InvalidInput",
        says=("the request has no body", '"kind": "life"|"encrypt"|"decrypt"|"pipeline"'),
    ),
    submit(
        "whitespace-body",
        b" \r\n\t ",
        type="InvalidInput",
        says=(MALFORMED, "truncated"),
    ),
    submit("null-body", b"null", type="InvalidInput", says=("got a JSON null",)),
    submit(
        "oversize-body",
        b'{"kind": "life"}' + b" " * JSON_LIMIT,
        status=413,
        type="PayloadTooLarge",
        says=(f"{JSON_LIMIT}",),
    ),
    submit(
        "no-content-type",
        {"kind": "life", "params": {"pattern": GLIDER}},
        status=415,
        type="UnsupportedMediaType",
        says=("Content-Type none", "send application/json"),
        headers=(),
    ),
    submit(
        "form-content-type",
        b"kind=life",
        status=415,
        type="UnsupportedMediaType",
        says=("'application/x-www-form-urlencoded'", "send application/json"),
        headers=((b"Content-Type", b"application/x-www-form-urlencoded"),),
    ),
]

TYPE_CASES: Final = [
    life(
        "generations-as-string",
        {"random": "8x8", "generations": "5"},
        "params.generations",
        "params.generations = '5'",
        "expected `int`, got `str`",
    ),
    life(
        "generations-as-bool",
        {"random": "8x8", "generations": True},
        "params.generations",
        "expected `int`, got `bool`",
    ),
    life(
        "generations-as-float",
        {"random": "8x8", "generations": 1.5},
        "params.generations",
        "expected `int`, got `float`",
    ),
    life(
        "rule-as-number",
        {"random": "8x8", "rule": 23},
        "params.rule",
        "expected `str | null`, got `int`",
    ),
    submit(
        "params-as-list",
        {"kind": "life", "params": []},
        field="params",
        says=("Expected `object`, got `array`",),
    ),
    submit("kind-as-null", {"kind": None}, field="kind", says=("Expected `str`, got `null`",)),
    submit(
        "unknown-kind",
        {"kind": "../../bin/sh"},
        field="kind",
        says=("unknown kind '../../bin/sh'", "choose one of life, encrypt, decrypt, pipeline"),
    ),
    encrypt("password-as-number", {"password": 7}, "params.password", "non-empty string"),
    pipeline(
        "sources-as-string",
        {"sources": "http://10.0.0.1/img/a.jpg"},
        "params.sources",
        "expected `array`, got `str`",
    ),
    pipeline(
        "quality-as-string",
        {"sources": ["http://10.0.0.1/img/a.jpg"], "quality": "high"},
        "params.quality",
        "expected `int | null`, got `str`",
    ),
]

NUMBER_CASES: Final = [
    life(
        "huge-generations",
        {"random": "8x8", "generations": 10**30},
        "params.generations",
        f"= {10**30}: must be 0 to 1_000_000 (life.max_generations)",
    ),
    life(
        "negative-generations",
        {"random": "8x8", "generations": -1},
        "params.generations",
        "expected `int` >= 0",
    ),
    life(
        "negative-workers",
        {"random": "8x8", "workers": -3},
        "params.workers",
        "expected `int` >= 1",
    ),
    life(
        "huge-workers",
        {"random": "8x8", "workers": 10**6},
        "params.workers",
        "must be 1 to 64 (life.max_workers)",
    ),
    life(
        "huge-size",
        {"random": "8x8", "topology": "torus", "size": "99999999999999999999x1"},
        "params.size",
        "past life.max_cells = 67_108_864",
    ),
    life(
        "negative-size",
        {"random": "8x8", "topology": "torus", "size": "-5x3"},
        "params.size",
        "size '-5x3' is not WxH",
        "write e.g. 64x48",
    ),
    life(
        "negative-seed",
        {"random": "8x8:0.5:-1"},
        "params.random",
        "seed '-1' must be a whole number >= 0",
    ),
    life(
        "NaN-density",
        {"random": "8x8:nan"},
        "params.random",
        "density 'nan' must be 0-1 or 0%-100%",
    ),
    encrypt(
        "huge-iterations",
        {"iterations": 10**30},
        "params.iterations",
        "must be 1_000 to 100_000_000",
    ),
    encrypt(
        "negative-iterations",
        {"iterations": -1},
        "params.iterations",
        "params.iterations = -1: must be 1_000 to 100_000_000",
    ),
    pipeline(
        "negative-quality",
        {"sources": ["http://10.0.0.1/img/a.jpg"], "quality": -5},
        "params.quality",
        "expected `int` >= 1",
    ),
]


test_refused_with_a_status_and_a_message = refusal_test(
    json=JSON_CASES, type=TYPE_CASES, number=NUMBER_CASES
)
