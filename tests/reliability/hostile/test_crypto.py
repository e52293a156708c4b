"""Hostile encrypt and decrypt jobs and uploads: passwords, payloads, ciphers."""

from __future__ import annotations

from typing import Final

from service.jobs.kinds._payload import MAX_DATA_CHARS
from tests.reliability.hostile._cases import (
    JSON,
    OCTETS,
    PASSWORD,
    encrypt,
    refusal_test,
    submit,
    upload,
)

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


test_refused_with_a_status_and_a_message = refusal_test(crypto=CRYPTO_CASES, upload=UPLOAD_CASES)
