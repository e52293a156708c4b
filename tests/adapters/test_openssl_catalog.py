"""The openssl catalog, against the real openssl binary on PATH (nothing of openssl is mocked).

Only the "too old" and "not OpenSSL" cases use a stand-in: a shell script that prints what
such a binary prints for ``version``.
"""

from __future__ import annotations

import os
import stat
import subprocess
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from adapters._openssl.algorithms import Algorithm, OpenSSL
from adapters._openssl.catalog import find_openssl, known_openssl
from adapters._openssl.errors import AlgorithmRefused, OpenSSLNotFound, UnknownAlgorithm

PLAINTEXT = b"fanout: a few bytes, not a multiple of any block size\n"


@pytest.fixture(scope="module")
def openssl() -> OpenSSL:
    return find_openssl()


def run(openssl: OpenSSL, args: Sequence[str], data: bytes) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [openssl.path, *args], input=data, capture_output=True, timeout=30, check=False
    )


def fake_openssl(tmp_path: Path, version_line: str) -> Path:
    script = tmp_path / "openssl"
    script.write_text(f"#!/bin/sh\necho '{version_line}'\n")
    script.chmod(0o755)
    return script


def test_version_is_parsed(openssl: OpenSSL) -> None:
    printed = subprocess.run(
        [openssl.path, "version"], capture_output=True, text=True, timeout=30, check=True
    ).stdout
    assert os.path.isabs(openssl.path)
    assert printed.startswith(f"OpenSSL {openssl.version} ")
    assert openssl.version_info >= (1, 1, 1)
    assert openssl.version.startswith(".".join(map(str, openssl.version_info)))


def test_default_names_resolve(openssl: OpenSSL) -> None:
    cipher = openssl.cipher("aes-256-cbc", allow_legacy=False)
    digest = openssl.digest("sha256", allow_legacy=False)
    assert (cipher.kind, cipher.name, cipher.legacy) == ("cipher", "aes-256-cbc", False)
    assert (digest.kind, digest.name, digest.legacy) == ("digest", "sha256", False)
    assert {"aes-256-cbc", "aes256"} <= cipher.aliases
    assert openssl.provider_args(cipher, digest) == []


@pytest.mark.parametrize("name", ["AES256", "-aes-256-cbc", " Aes-256-CBC\n", "aes256"])
def test_cipher_aliases(openssl: OpenSSL, name: str) -> None:
    assert openssl.cipher(name, allow_legacy=False).name == "aes-256-cbc"


@pytest.mark.parametrize("name", ["sha-256", "SHA2-256", "-sha256", "SHA256"])
def test_digest_aliases(openssl: OpenSSL, name: str) -> None:
    expected = openssl.digest("sha256", allow_legacy=False)
    assert openssl.digest(name, allow_legacy=False) is expected


@pytest.mark.parametrize(
    ("name", "because"),
    [
        ("aes-256-gcm", "AEAD"),
        ("id-aes128-GCM", "AEAD"),
        ("aes-128-ccm", "AEAD"),
        ("aes-256-ocb", "AEAD"),
        ("aes-256-siv", "AEAD"),
        ("chacha20-poly1305", "AEAD"),
        ("aes-256-xts", "XTS is for disk sectors"),
        ("aes256-wrap", "key-wrap"),
        ("id-aes128-wrap-pad", "key-wrap"),
        ("des3-wrap", "key-wrap"),
        ("aes-128-cbc-hmac-sha1", "TLS"),
    ],
)
def test_unusable_modes_are_refused_with_a_reason(
    openssl: OpenSSL, name: str, because: str
) -> None:
    with pytest.raises(AlgorithmRefused, match=because) as caught:
        openssl.cipher(name, allow_legacy=True)
    assert caught.value.kind == "cipher"
    assert not caught.value.needs_legacy
    assert repr(name) in str(caught.value)
    assert "aes-256-cbc" in str(caught.value)  # the message suggests a mode that works


@pytest.mark.parametrize(
    ("name", "because"),
    [("shake256", "extendable-output"), ("md5-sha1", "TLS"), ("null", "nothing")],
)
def test_unusable_digests_are_refused_with_a_reason(
    openssl: OpenSSL, name: str, because: str
) -> None:
    with pytest.raises(AlgorithmRefused, match=because):
        openssl.digest(name, allow_legacy=True)


def test_unknown_cipher_lists_the_valid_ones(openssl: OpenSSL) -> None:
    with pytest.raises(UnknownAlgorithm, match=r"unknown cipher 'aes-999': choose one of") as e:
        openssl.cipher("aes-999", allow_legacy=False)
    assert "aes-256-cbc" in e.value.valid
    assert list(e.value.valid) == sorted(set(e.value.valid))
    assert not [name for name in e.value.valid if "gcm" in name or "wrap" in name]
    assert "des-ede3-cbc" not in e.value.valid  # legacy, and legacy is off
    assert "des-ede3-cbc" in openssl.cipher_names(allow_legacy=True)


@pytest.mark.parametrize("name", ["", "  ", "-"])
def test_empty_names_are_unknown(openssl: OpenSSL, name: str) -> None:
    with pytest.raises(UnknownAlgorithm):
        openssl.cipher(name, allow_legacy=True)
    with pytest.raises(UnknownAlgorithm):
        openssl.digest(name, allow_legacy=True)


def test_unknown_digest_lists_the_valid_ones(openssl: OpenSSL) -> None:
    with pytest.raises(UnknownAlgorithm, match="unknown digest 'sha-999'") as caught:
        openssl.digest("sha-999", allow_legacy=False)
    assert "sha256" in caught.value.valid
    assert "whirlpool" not in caught.value.valid
    assert "shake256" not in openssl.digest_names(allow_legacy=True)


@pytest.mark.parametrize(
    ("kind", "name", "canonical", "provider"),
    [
        ("cipher", "des3", "des-ede3-cbc", "default"),
        ("cipher", "bf", "bf-cbc", "legacy"),
        ("digest", "whirlpool", "whirlpool", "legacy"),
        ("digest", "md5", "md5", "default"),
        ("digest", "sha-1", "sha1", "default"),
    ],
)
def test_legacy_algorithms_need_the_setting(
    openssl: OpenSSL, kind: str, name: str, canonical: str, provider: str
) -> None:
    lookup = openssl.cipher if kind == "cipher" else openssl.digest
    with pytest.raises(AlgorithmRefused, match="allow_legacy") as caught:
        lookup(name, allow_legacy=False)
    assert caught.value.needs_legacy
    assert "FANOUT_CRYPTO__ALLOW_LEGACY" in str(caught.value)
    algorithm = lookup(name, allow_legacy=True)
    assert (algorithm.name, algorithm.legacy, algorithm.provider) == (canonical, True, provider)


def test_provider_args_only_for_the_legacy_provider(openssl: OpenSSL) -> None:
    whirlpool = openssl.digest("whirlpool", allow_legacy=True)
    des3 = openssl.cipher("des3", allow_legacy=True)  # legacy by policy, in the default provider
    aes = openssl.cipher("aes-256-cbc", allow_legacy=False)
    sha256 = openssl.digest("sha256", allow_legacy=False)
    assert openssl.provider_args(aes, whirlpool) == ["-provider", "legacy", "-provider", "default"]
    assert openssl.provider_args(aes, sha256, des3) == []
    assert openssl.provider_args() == []


def test_every_canonical_name_selects_itself(openssl: OpenSSL) -> None:
    for name in openssl.cipher_names(allow_legacy=True):
        assert openssl.cipher(name, allow_legacy=True).name == name
    for name in openssl.digest_names(allow_legacy=True):
        assert openssl.digest(name, allow_legacy=True).name == name
    assert set(openssl.cipher_names(allow_legacy=False)) < set(openssl.ciphers)


def round_trip(openssl: OpenSSL, cipher: Algorithm) -> str:
    """ "" when ``openssl enc -<name>`` encrypts and decrypts PLAINTEXT, else what went wrong."""
    args = ["enc", f"-{cipher.name}", "-pbkdf2", "-iter", "1", "-pass", "pass:x"]
    args += openssl.provider_args(cipher)
    encrypted = run(openssl, args, PLAINTEXT)
    if encrypted.returncode != 0:
        return f"{cipher.name}: encrypt: {encrypted.stderr.decode(errors='replace')[:200]}"
    decrypted = run(openssl, [*args, "-d"], encrypted.stdout)
    if decrypted.returncode != 0 or decrypted.stdout != PLAINTEXT:
        return f"{cipher.name}: decrypt: {decrypted.stderr.decode(errors='replace')[:200]}"
    return ""


def hashes(openssl: OpenSSL, digest: Algorithm) -> str:
    """ "" when ``openssl dgst -<name>`` hashes PLAINTEXT, else what went wrong."""
    result = run(openssl, ["dgst", f"-{digest.name}", *openssl.provider_args(digest)], PLAINTEXT)
    if result.returncode != 0 or b"= " not in result.stdout:
        return f"{digest.name}: {result.stderr.decode(errors='replace')[:200]}"
    return ""


def test_every_offered_cipher_round_trips_through_openssl_enc(openssl: OpenSSL) -> None:
    ciphers = [
        openssl.cipher(n, allow_legacy=True) for n in openssl.cipher_names(allow_legacy=True)
    ]
    with ThreadPoolExecutor(max_workers=8) as pool:
        failures = [f for f in pool.map(lambda c: round_trip(openssl, c), ciphers) if f]
    assert failures == []


def test_every_offered_digest_runs_in_openssl_dgst(openssl: OpenSSL) -> None:
    digests = [
        openssl.digest(n, allow_legacy=True) for n in openssl.digest_names(allow_legacy=True)
    ]
    with ThreadPoolExecutor(max_workers=8) as pool:
        failures = [f for f in pool.map(lambda d: hashes(openssl, d), digests) if f]
    assert failures == []


def test_a_missing_path_names_the_path_and_the_setting(tmp_path: Path) -> None:
    missing = str(tmp_path / "no-such-openssl")
    with pytest.raises(OpenSSLNotFound) as caught:
        find_openssl(missing)
    message = str(caught.value)
    assert missing in message
    assert "[crypto] openssl" in message
    assert "FANOUT_CRYPTO__OPENSSL" in message


def test_a_file_that_is_not_executable_is_refused(tmp_path: Path) -> None:
    plain = tmp_path / "openssl"
    plain.write_text("not a program\n")
    plain.chmod(stat.S_IRUSR | stat.S_IWUSR)
    with pytest.raises(OpenSSLNotFound, match="not executable") as caught:
        find_openssl(str(plain))
    assert str(plain) in str(caught.value)
    assert "FANOUT_CRYPTO__OPENSSL" in str(caught.value)


def test_openssl_before_1_1_1_is_too_old(tmp_path: Path) -> None:
    script = fake_openssl(tmp_path, "OpenSSL 1.0.2k  26 Jan 2017")
    with pytest.raises(OpenSSLNotFound, match=r"is OpenSSL 1\.0\.2k: -pbkdf2 needs 1\.1\.1"):
        find_openssl(str(script))


def test_libressl_is_not_openssl(tmp_path: Path) -> None:
    script = fake_openssl(tmp_path, "LibreSSL 3.3.6")
    with pytest.raises(OpenSSLNotFound, match="is not OpenSSL") as caught:
        find_openssl(str(script))
    assert "LibreSSL 3.3.6" in str(caught.value)
    assert str(script) in str(caught.value)


def test_answers_are_cached_per_binary(openssl: OpenSSL) -> None:
    assert find_openssl() is openssl
    assert find_openssl(openssl.path) is openssl


def test_the_last_answer_per_path_is_known_without_asking(openssl: OpenSSL, tmp_path: Path) -> None:
    link = tmp_path / "openssl"
    link.symlink_to(openssl.path)
    assert known_openssl(str(link)) is None  # never asked for by that path
    assert find_openssl(str(link)) is openssl  # the same binary: the same answer
    assert known_openssl(str(link)) is openssl
