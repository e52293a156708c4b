"""Hostile input against a real daemon: every request gets its status and a message that helps.

Each row of a table is one request, written byte for byte (``tests.reliability._raw``: paths
and headers that are not UTF-8, lying lengths), and what must come back: the status, the
error's ``type`` and ``field``, and words of its ``message`` that name the problem and what is
allowed. Whatever the input, the daemon answers in time, never with a 500, and logs no error
(a ``bug`` line would mean a traceback).

Where the design judges something only when the job runs (pattern text, which is parsed on a
worker thread; cipher and digest names, which need the openssl binary's catalogue; the
addresses a pipeline source resolves to or redirects to), the submission is accepted and the
job's own error (or its manifest's item) names the problem: the later tests say which.
"""

from __future__ import annotations

import base64
import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote

import pytest

from service.api.bodies import JSON_LIMIT
from service.errors import FanoutError
from service.jobs.kinds._payload import MAX_DATA_CHARS
from service.jobs.kinds.life import MAX_PATTERN_BYTES
from service.jobs.model import JobState
from service.testing import serve
from tests.pipeline._server import serve as image_server
from tests.reliability._raw import Header, exchange

Settings = Mapping[str, Mapping[str, object]]

FAST: Final[Settings] = {"crypto": {"pbkdf2_iterations": 1_000}}
PIPELINE: Final[Settings] = {
    "pipeline": {
        "allowed_sources": "http://10.0.0.1/img/,https://images.example/",
        "allow_private": False,
        # Never written: every pipeline row is refused before a job exists.
        "destinations": {"thumbs": "/nonexistent/fanout-hostile"},
    }
}
DEEP: Final = 100_000
GLIDER: Final = "x = 3, y = 3, rule = B3/S23\nbob$2bo$3o!\n"
JSON: Final[Header] = (b"Content-Type", b"application/json")
OCTETS: Final[Header] = (b"Content-Type", b"application/octet-stream")
PASSWORD: Final[Header] = (b"X-Fanout-Password", b"pw")
PARSER: Final = "aiohttp"
"""The ``type`` of a row refused by aiohttp's HTTP parser, before the application runs: a
400 in plain text (the application cannot shape it), with no ``error`` object."""


@dataclass(frozen=True, slots=True)
class Case:
    """One request and what must come back."""

    method: bytes
    target: bytes
    headers: tuple[Header, ...]
    body: bytes | None
    status: int
    type: str
    field: str | None
    says: tuple[str, ...]
    settings: Settings
    length: int | None = None


def _encoded(body: bytes | Mapping[str, Any]) -> bytes:
    return body if isinstance(body, bytes) else json.dumps(body).encode()


def submit(
    name: str,
    body: bytes | Mapping[str, Any],
    *,
    status: int = 400,
    type: str = "BadParam",
    field: str | None = None,
    says: tuple[str, ...] = (),
    settings: Settings = FAST,
    headers: tuple[Header, ...] = (JSON,),
) -> Any:
    """``POST /v1/jobs`` with ``body`` (bytes as they are, a mapping as JSON)."""
    case = Case(b"POST", b"/v1/jobs", headers, _encoded(body), status, type, field, says, settings)
    return pytest.param(case, id=name)


def life(name: str, params: Mapping[str, Any], field: str, *says: str) -> Any:
    """A life submission refused on ``field``."""
    return submit(name, {"kind": "life", "params": params}, field=field, says=says)


def encrypt(name: str, params: Mapping[str, Any], field: str, *says: str) -> Any:
    """An encrypt submission (password "pw" unless ``params`` says) refused on ``field``."""
    body = {"kind": "encrypt", "params": {"password": "pw", "data": "aGk=", **params}}
    return submit(name, body, field=field, says=says)


def pipeline(name: str, params: Mapping[str, Any], field: str, *says: str) -> Any:
    """A pipeline submission refused on ``field``, under ``PIPELINE``'s settings."""
    body = {"kind": "pipeline", "params": {"destination": "thumbs", **params}}
    return submit(name, body, field=field, says=says, settings=PIPELINE)


def source(name: str, url: str, *says: str) -> Any:
    """A pipeline whose one source is refused at submission."""
    return pipeline(name, {"sources": [url]}, "params.sources[0]", *says)


def upload(
    name: str,
    query: str,
    *,
    status: int = 400,
    type: str = "BadParam",
    field: str | None = None,
    says: tuple[str, ...] = (),
    headers: tuple[Header, ...] = (OCTETS, PASSWORD),
    body: bytes = b"plain",
    kind: str = "encrypt",
    length: int | None = None,
) -> Any:
    """``POST /v1/jobs/{kind}?{query}`` with a raw body."""
    target = f"/v1/jobs/{kind}{'?' if query else ''}{query}".encode()
    case = Case(b"POST", target, headers, body, status, type, field, says, FAST, length)
    return pytest.param(case, id=name)


def get(
    name: str,
    target: bytes,
    *,
    status: int = 400,
    type: str = "BadParam",
    field: str | None = None,
    says: tuple[str, ...] = (),
    method: bytes = b"GET",
    headers: tuple[Header, ...] = (),
) -> Any:
    """A request without a body (a query string, a job id in the path)."""
    case = Case(method, target, headers, None, status, type, field, says, FAST)
    return pytest.param(case, id=name)


def _at(body: bytes, byte: bytes) -> str:
    """The words saying where ``body`` stops being UTF-8 (at the first ``byte``)."""
    return f"byte {body.index(byte)} (0x{byte[0]:02x}) is not UTF-8"


_NOT_UTF8_VALUE: Final = b'{"kind": "life", "params": {"random": "\xff\xfe"}}'
_NOT_UTF8_KEY: Final = b'{"k\xc3(ind": "life"}'
_OVERLONG: Final = b'{"kind": "\xc0\xaf"}'  # an overlong "/", the classic UTF-8 smuggle
_NOT_UTF8: Final = ("JSON text must be UTF-8",)
_MALFORMED: Final = "malformed JSON body"
_TOO_DEEP: Final = ("nest too deeply", "a few levels")

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
        says=(_MALFORMED, *_TOO_DEEP),
    ),
    submit(
        "nested-100k-objects-as-params",
        b'{"kind": "life", "params": ' + b'{"a": ' * DEEP + b"1" + b"}" * DEEP + b"}",
        type="InvalidInput",
        says=(_MALFORMED, *_TOO_DEEP),
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
        says=(_MALFORMED, "truncated"),
    ),
    submit(
        "trailing-garbage",
        b'{"kind": "life"} x',
        type="InvalidInput",
        says=(_MALFORMED, "trailing characters"),
    ),
    submit(
        "NaN-literal",
        b'{"kind": "life", "params": {"random": "8x8", "generations": NaN}}',
        type="InvalidInput",
        says=(_MALFORMED, "invalid character (byte 60)"),
    ),
    submit(
        "Infinity-literal",
        b'{"kind": "life", "params": {"generations": -Infinity}}',
        type="InvalidInput",
        says=(_MALFORMED, "invalid character"),
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
        says=(_MALFORMED, "byte 0"),
    ),
    submit(
        "not-utf8-in-a-value",
        _NOT_UTF8_VALUE,
        type="InvalidInput",
        says=(_MALFORMED, _at(_NOT_UTF8_VALUE, b"\xff"), *_NOT_UTF8),
    ),
    submit(
        "not-utf8-in-a-key",
        _NOT_UTF8_KEY,
        type="InvalidInput",
        says=(_at(_NOT_UTF8_KEY, b"\xc3"), *_NOT_UTF8),
    ),
    submit(
        "overlong-utf8",
        _OVERLONG,
        type="InvalidInput",
        says=(_at(_OVERLONG, b"\xc0"), *_NOT_UTF8),
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
        says=(_MALFORMED, "truncated"),
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

CRYPTO_CASES: Final = [
    encrypt(
        "base64-alphabet",
        {"data": "!!!!"},
        "params.data",
        "params.data is not strict base64",
        "standard alphabet (A-Z a-z 0-9 + /)",
    ),
    encrypt(
        "base64-padding",
        {"data": "aGk"},
        "params.data",
        "not strict base64",
        "'=' padding to a multiple of 4",
    ),
    encrypt("base64-not-canonical", {"data": "YWJ="}, "params.data", "not canonical"),
    encrypt("base64-line-break", {"data": "aGk=\naGk="}, "params.data", "not strict base64"),
    encrypt("base64-url-safe", {"data": "-_-_"}, "params.data", "not strict base64"),
    encrypt("base64-not-ascii", {"data": "aGk\u00e9"}, "params.data", "not strict base64"),
    submit(
        "base64-too-long",
        {"kind": "encrypt", "params": {"password": "pw", "data": "A" * (MAX_DATA_CHARS + 4)}},
        status=413,
        type="PayloadTooLarge",
        says=("1_048_580 characters of base64", "send a larger payload as the request body"),
    ),
    submit(
        "password-missing",
        {"kind": "encrypt", "params": {"data": "aGk="}},
        field="params.password",
        says=("the encrypt job needs a password",),
    ),
    encrypt("password-empty", {"password": ""}, "params.password", "non-empty string"),
    encrypt(
        "password-line-break",
        {"password": "a\nb"},
        "params.password",
        "holds a line break or a NUL byte",
    ),
    encrypt(
        "password-too-long", {"password": "p" * 1024}, "params.password", "1024 bytes: at most 1023"
    ),
    submit(
        "password-header-not-utf8",
        {"kind": "encrypt", "params": {"data": "aGk="}},
        field="X-Fanout-Password",
        says=("not UTF-8 text",),
        headers=(JSON, (b"X-Fanout-Password", b"caf\xe9")),
    ),
    # Names are judged against the catalogue of the openssl the daemon found at start.
    encrypt(
        "cipher-unknown",
        {"cipher": "aes-999"},
        "params.cipher",
        "params.cipher: unknown cipher 'aes-999': choose one of",
        "aes-256-cbc",
    ),
    encrypt(
        "cipher-legacy-while-off",
        {"cipher": "des3"},
        "params.cipher",
        "cipher 'des3'",
        "allow_legacy = true",
    ),
    encrypt(
        "digest-legacy-while-off",
        {"digest": "whirlpool"},
        "params.digest",
        "digest 'whirlpool'",
        "allow_legacy = true",
    ),
    submit(
        "decrypt-cipher-aead",
        {"kind": "decrypt", "params": {"password": "pw", "cipher": "chacha20-poly1305"}},
        field="params.cipher",
        says=("AEAD",),
    ),
    encrypt(
        "cipher-empty",
        {"cipher": " "},
        "params.cipher",
        "params.cipher is empty",
        "crypto.cipher = 'aes-256-cbc'",
    ),
]

UPLOAD_CASES: Final = [
    upload(
        "unknown-cipher",
        "cipher=aes-999",
        field="params.cipher",
        says=("unknown cipher 'aes-999': choose one of", "aes-256-cbc"),
    ),
    upload(
        "legacy-cipher-des3",
        "cipher=des3",
        field="params.cipher",
        says=("cipher 'des3'", "legacy algorithm", "allow_legacy = true"),
    ),
    upload(
        "legacy-digest-whirlpool",
        "digest=whirlpool",
        field="params.digest",
        says=("digest 'whirlpool'", "allow_legacy = true"),
    ),
    upload(
        "legacy-digest-md5",
        "digest=md5",
        field="params.digest",
        says=("digest 'md5'", "allow_legacy = true"),
    ),
    upload(
        "aead-cipher",
        "cipher=aes-256-gcm",
        field="params.cipher",
        says=("does not support AEAD modes", "aes-256-cbc"),
    ),
    upload(
        "decrypt-unknown-cipher",
        "cipher=rot13",
        kind="decrypt",
        field="params.cipher",
        says=("unknown cipher 'rot13'",),
    ),
    upload(
        "iterations-1e999",
        "iterations=1e999",
        field="iterations",
        says=("iterations='1e999'", "Number out of range"),
    ),
    upload(
        "iterations-nan",
        "iterations=nan",
        field="iterations",
        says=("iterations='nan'", "Expected `int | null`"),
    ),
    upload(
        "iterations-negative",
        "iterations=-5",
        field="params.iterations",
        says=("must be 1_000 to 100_000_000",),
    ),
    upload(
        "iterations-huge",
        f"iterations={10**23}",
        field="params.iterations",
        says=("must be 1_000 to 100_000_000",),
    ),
    upload(
        "password-header-not-utf8",
        "",
        field="X-Fanout-Password",
        says=("not UTF-8 text",),
        headers=(OCTETS, (b"X-Fanout-Password", b"\xff\xfe")),
    ),
    upload(
        "password-header-too-long",
        "",
        field="X-Fanout-Password",
        says=("at most 1023",),
        headers=(OCTETS, (b"X-Fanout-Password", b"p" * 2000)),
    ),
    upload(
        "declared-length-past-the-limit",
        "",
        status=413,
        type="PayloadTooLarge",
        says=(f"{2**40 + 1} bytes", "[crypto] max_payload_bytes allows"),
        body=b"",
        length=2**40 + 1,
    ),
    upload(
        # No Content-Type at all is taken as application/octet-stream (RFC 9110, 8.3).
        "text-content-type",
        "",
        status=415,
        type="UnsupportedMediaType",
        says=("Content-Type 'text/plain'", "send application/octet-stream"),
        headers=((b"Content-Type", b"text/plain"), PASSWORD),
    ),
    # An empty ciphertext is a job that ran and failed (200 with the job), not a refusal.
    upload(
        "empty-ciphertext",
        "",
        kind="decrypt",
        body=b"",
        status=200,
        type="CryptoFailed",
        says=("the input is empty or too short to be a ciphertext",),
    ),
]

QUERY_CASES: Final = [
    get(
        "limit-negative",
        b"/v1/jobs?limit=-1",
        field="limit",
        says=("limit -1: must be from 1 to 500",),
    ),
    get(
        "limit-huge", b"/v1/jobs?limit=" + b"9" * 30, field="limit", says=("must be from 1 to 500",)
    ),
    get(
        "limit-1e999",
        b"/v1/jobs?limit=1e999",
        field="limit",
        says=("limit='1e999'", "Number out of range"),
    ),
    get("limit-nan", b"/v1/jobs?limit=NaN", field="limit", says=("limit='NaN'", "Expected `int`")),
    get("limit-empty", b"/v1/jobs?limit=", field="limit", says=("Expected `int`",)),
    get(
        "status-escaped-not-utf8",
        b"/v1/jobs?status=%ff",
        field="status",
        says=("choose one of queued, running, succeeded",),
    ),
    get("status-empty", b"/v1/jobs?status=", field="status", says=("status=''",)),
    get(
        "kind-NUL",
        b"/v1/jobs?kind=%00",
        field="kind",
        says=("unknown kind '\\x00'", "choose one of life"),
    ),
    get(
        "cursor-traversal",
        b"/v1/jobs?cursor=..%2f..%2fetc%2fpasswd",
        field="cursor",
        says=("cursor '../../etc/passwd': must be a job id from a page",),
    ),
    get("raw-not-utf8", b"/v1/jobs?status=\xff", type=PARSER),
]


def missing(name: str, target: bytes, named: str, *, method: bytes = b"GET") -> Any:
    """A path whose job id is hostile: 404, naming the id as decoded.

    An id is never joined to a file path: either the router finds no route (``{id}`` takes
    only a job id's characters) or the store finds no such job. Either message names it.
    """
    case = Case(method, target, (), None, 404, "NotFound", None, (named,), FAST)
    return pytest.param(case, id=name)


PATH_CASES: Final = [
    missing("traversal", b"/v1/jobs/..%2f..%2fetc", "../../etc'"),
    missing("traversal-result", b"/v1/jobs/..%2f..%2fetc%2fpasswd/result", "../../etc/passwd"),
    missing("traversal-events", b"/v1/jobs/..%2F..%2Fetc/events", "../../etc"),
    missing("traversal-cancel", b"/v1/jobs/..%2f..%2fetc/cancel", "../../etc", method=b"POST"),
    missing("absolute-path", b"/v1/jobs/%2fetc%2fpasswd/result", "/etc/passwd"),
    missing("backslashes", b"/v1/jobs/..%5c..%5cetc/result", "..\\\\..\\\\etc"),
    missing("NUL", b"/v1/jobs/%00/result", "\\x00"),
    missing("dot-dot-escaped", b"/v1/jobs/%2e%2e/result", ".."),
    missing("dot-dot-raw", b"/v1/jobs/../../etc/passwd", "no route '/v1/jobs/../../etc/passwd'"),
    get("raw-not-utf8", b"/v1/jobs/\xff\xfe", type=PARSER),
]

HEADER_CASES: Final = [
    get(
        "content-length-negative",
        b"/v1/jobs",
        method=b"POST",
        type=PARSER,
        headers=(JSON, (b"Content-Length", b"-5")),
    ),
    get(
        "content-length-overflow",
        b"/v1/jobs",
        method=b"POST",
        type=PARSER,
        headers=(JSON, (b"Content-Length", b"9" * 30)),
    ),
    get("control-character", b"/v1/jobs", type=PARSER, headers=((b"X-Note", b"a\x01b"),)),
    # Found by the fuzzer: a query of a parameter repeated past 8 KiB.
    get("request-line-too-long", b"/v1/jobs?kind=" + b"x" * 9000, type=PARSER, says=("8190",)),
    get(
        "header-too-long",
        b"/v1/jobs",
        type=PARSER,
        says=("8190",),
        headers=((b"X-Note", b"x" * 9000),),
    ),
]

_PRIVATE: Final = "not under an allowed prefix"
SOURCE_CASES: Final = [
    source("file-url", "file:///etc/passwd", "local files are never read for a job"),
    source("file-url-upper", "FILE:///etc/passwd", "local files are never read for a job"),
    source("file-url-no-slashes", "file:/etc/passwd", "local files are never read for a job"),
    source("plain-path", "/etc/passwd", "local files are never read", "give an http(s) URL"),
    source("gopher", "gopher://10.0.0.1/img/a", "the scheme 'gopher' is not allowed"),
    source("private-address", "http://10.0.0.2/img/a.jpg", _PRIVATE, "'http://10.0.0.1/img/'"),
    source("metadata-address", "http://169.254.169.254/latest/meta-data/", _PRIVATE),
    source("ipv6-loopback", "http://[::1]/img/a.jpg", _PRIVATE),
    source("decimal-loopback", "http://2130706433/img/a.jpg", _PRIVATE),
    source("prefix-as-a-subdomain", "https://images.example.evil.test/a.jpg", _PRIVATE),
    source("prefix-as-userinfo", "https://images.example@169.254.169.254/a.jpg", _PRIVATE),
    source("dot-dot", "http://10.0.0.1/img/../admin/a.jpg", "'.' or '..' segment"),
    source("dot-dot-escaped", "http://10.0.0.1/img/%2E%2E%2Fadmin/a.jpg", "'..' segment"),
    source("backslash", "http://10.0.0.1/img/..\\admin\\a.jpg", "it holds a backslash"),
    source("header-injection", "http://10.0.0.1/img/a.jpg\r\nHost: evil", "control character"),
    source("bad-port", "http://10.0.0.1:99999/img/a.jpg", "not a well-formed URL"),
    pipeline("no-sources", {"sources": []}, "params.sources", "length >= 1"),
    pipeline(
        "destination-traversal",
        {"sources": ["http://10.0.0.1/img/a.jpg"], "destination": "../../etc"},
        "params.destination",
        "'../../etc': no such destination: choose one of 'thumbs'",
    ),
    pipeline(
        "destination-absolute",
        {"sources": ["http://10.0.0.1/img/a.jpg"], "destination": "/etc"},
        "params.destination",
        "no such destination",
    ),
    pipeline(
        "destination-url",
        {"sources": ["http://10.0.0.1/img/a.jpg"], "destination": "http://evil.test/"},
        "params.destination",
        "no such destination",
    ),
    submit(
        "pipeline-off",
        {"kind": "pipeline", "params": {"sources": ["http://10.0.0.1/a"], "destination": "x"}},
        field="params.sources",
        says=("pipeline jobs over HTTP are off", "[pipeline] allowed_sources"),
    ),
]


def _grouped(**groups: list[Any]) -> list[Any]:
    """Every row, its id prefixed with its group's name: ``json/truncated``."""
    return [
        pytest.param(*row.values, id=f"{group}/{row.id}")
        for group, rows in groups.items()
        for row in rows
    ]


@pytest.mark.anyio
@pytest.mark.parametrize(
    "case",
    _grouped(
        json=JSON_CASES,
        type=TYPE_CASES,
        number=NUMBER_CASES,
        life=LIFE_CASES,
        crypto=CRYPTO_CASES,
        upload=UPLOAD_CASES,
        query=QUERY_CASES,
        path=PATH_CASES,
        header=HEADER_CASES,
        source=SOURCE_CASES,
    ),
)
async def test_refused_with_a_status_and_a_message(
    case: Case, caplog: pytest.LogCaptureFixture
) -> None:
    async with serve(case.settings) as client:
        reply = await exchange(
            client.base_url, case.method, case.target, case.headers, case.body, length=case.length
        )
        listed = await client.list()
    assert reply.status == case.status, reply.body[:500]
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]
    if case.type == PARSER:
        # The media type the document declares for it beside the JSON error.
        assert reply.headers["Content-Type"] == "text/plain; charset=utf-8"
        assert not reply.body.startswith(b"{")
        for words in case.says:
            assert words.encode() in reply.body, reply.body[:300]
        return
    error = reply.error()
    assert error["type"] == case.type, error
    assert error.get("field") == case.field, error
    for words in case.says:
        assert words in error["message"], error
    # A refusal leaves no job behind, except an upload's, which ran to find its fault.
    assert not listed.jobs or case.target.startswith((b"/v1/jobs/encrypt", b"/v1/jobs/decrypt"))


@pytest.mark.anyio
async def test_a_request_id_that_is_not_utf8_is_replaced_never_echoed() -> None:
    async with serve() as client:
        for method, target, body in ((b"GET", b"/v1/jobs", None), (b"POST", b"/v1/jobs", b"{")):
            headers = ((b"X-Request-Id", b"\xff\xfe ../"), JSON)
            reply = await exchange(client.base_url, method, target, headers, body)
            assert reply.status == (200 if body is None else 400)
            assert re.fullmatch(r"[0-9a-f]{32}", reply.headers["x-request-id"])


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


def _listed(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.iterdir())


def _fetching(**settings: object) -> Settings:
    """Pipeline settings for a job against the image server: one attempt, small PNGs."""
    return {
        "pipeline": {
            "size": "32x32",
            "format": "png",
            "attempts": 1,
            **settings,
        }
    }


async def _manifest(settings: Settings, sources: list[str]) -> list[dict[str, Any]]:
    """Run a pipeline job over ``sources``; its manifest's items, in the order of ``sources``."""
    async with serve(settings) as client:
        job = await client.submit("pipeline", {"sources": sources, "destination": "thumbs"})
        done = await client.wait(job.id, timeout_s=30)
        # A job with an item that failed ends failed, its manifest kept.
        assert done.status in (JobState.SUCCEEDED, JobState.FAILED), done.error
        assert done.artifact is not None, done.error
        items: list[dict[str, Any]] = json.loads(await client.result(job.id))["items"]
    by_source = {item["source"]: item for item in items}
    return [by_source[url] for url in sources]


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("host", "says"),
    [
        pytest.param("10.0.0.1", "address 10.0.0.1 of {url} is private", id="private"),
        pytest.param(
            "169.254.169.254", "address 169.254.169.254 of {url} is link-local", id="metadata"
        ),
        pytest.param("127.0.0.1:{port}", "address 127.0.0.1 of {url} is loopback", id="ipv4-lo"),
        pytest.param("[::1]:{port}", "address ::1 of {url} is loopback", id="ipv6-loopback"),
        pytest.param(
            "localhost:{port}",
            "host 'localhost' resolves to loopback address 127.0.0.1 ({url})",
            id="name-resolving-to-loopback",
        ),
    ],
)
async def test_a_private_source_is_refused_when_fetched(
    host: str, says: str, tmp_path: Path
) -> None:
    # The prefix list lets the URL in at submission (an operator may list any host); the SSRF
    # guard then refuses it on its address before a connection is made: the item fails in
    # the job's manifest, the job itself succeeds, and the image server sees no request.
    async with image_server() as images:
        port = images.base.rsplit(":", 1)[1]
        url = f"http://{host.format(port=port)}/img/a.jpg"
        settings = _fetching(
            allowed_sources=url,
            allow_private=False,
            destinations={"thumbs": str(tmp_path)},
        )
        (item,) = await _manifest(settings, [url])
        assert images.hits == {}
    assert (item["stage"], item["name"]) == ("download", None)
    assert says.format(url=url) in item["error"]
    assert "allow_private is off" in item["error"]
    assert _listed(tmp_path) == []


@pytest.mark.anyio
async def test_a_redirect_off_the_allowed_hosts_is_refused_when_fetched(tmp_path: Path) -> None:
    # The first hop is on loopback, so allow_private is on here; each redirect is checked like
    # the first URL, against the hosts of [pipeline] allowed_sources (only 127.0.0.1).
    hosts = "is not allowed: allow_hosts is 127.0.0.1"
    async with image_server() as images:
        port = images.base.rsplit(":", 1)[1]
        targets = {
            "http://evil.example/a.jpg": f"host 'evil.example' {{hop}} {hosts}",
            "http://169.254.169.254/latest/": f"host '169.254.169.254' {{hop}} {hosts}",
            f"http://localhost:{port}/img/a.jpg": f"host 'localhost' {{hop}} {hosts}",
            "file:///etc/passwd": "scheme 'file' {hop} is not allowed: use http or https",
            "/img/fine.jpg": "",  # a redirect that stays on the allowed host is followed
        }
        sources = [images.url("/redirect?to=" + quote(target, safe="")) for target in targets]
        settings = _fetching(
            allowed_sources=images.base + "/",
            allow_private=True,
            destinations={"thumbs": str(tmp_path)},
        )
        items = await _manifest(settings, sources)
    for item, (target, says) in zip(items, targets.items(), strict=True):
        hop = f"of {target} (redirected from {item['source']})"
        assert item["error"] == (says.format(hop=hop) or None), item
        assert item["stage"] == ("download" if says else None), item
    assert len(_listed(tmp_path)) == 1


@pytest.mark.anyio
async def test_file_names_from_sources_stay_in_the_destination(tmp_path: Path) -> None:
    # Names written are made from the source's last segment, never a path: escaped
    # traversals, backslashes and NULs become plain names inside the destination directory.
    destination = tmp_path / "thumbs"
    destination.mkdir()
    async with image_server() as images:
        names = [
            "..%5C..%5Cevil.jpg",
            "%2e%2e%5cx.jpg",
            "a%00b.jpg",
            "%2e%2e%5cetc%5cpasswd",
            "....jpg",
        ]
        sources = [images.url(f"/img/{name}") for name in names]
        settings = _fetching(
            allowed_sources=images.base + "/img/",
            allow_private=True,
            destinations={"thumbs": str(destination)},
        )
        items = await _manifest(settings, sources)
    written = _listed(destination)
    assert _listed(tmp_path) == ["thumbs"]
    assert len(written) == len(names)
    for item in items:
        assert item["error"] is None, item
        assert (destination / item["name"]).is_file()
    for name in written:
        assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*-[0-9a-f]{10}\.png", name), name
