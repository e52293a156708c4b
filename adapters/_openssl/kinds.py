"""The two kinds of algorithm, cipher and digest, and this project's policy on each.

A :class:`Kind` says where ``openssl list`` lists it and which command accepts it; which names
to refuse and why (AEAD, XTS and key-wrap modes; XOFs...), so the error says why rather than
"unknown"; which alias is the canonical name; and which algorithms count as legacy by policy
although the default provider still offers them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final, TypeAlias

__all__ = ["CIPHERS", "DIGESTS", "Kind", "Refusals", "refusal"]

_MODE_SUFFIX: Final = re.compile(r"-(?:cbc|ecb|ofb|ctr|cfb\d*)$")

_CHOOSE_MODE: Final = "choose a mode such as aes-256-cbc or aes-256-ctr"
_CHOOSE_DIGEST: Final = "choose a digest such as sha256 or sha3-256"

# (substrings of any alias, reason): the first match refuses the algorithm.
Refusals: TypeAlias = tuple[tuple[tuple[str, ...], str], ...]
_CIPHER_REFUSALS: Final[Refusals] = (
    (
        ("gcm", "ccm", "ocb", "siv", "chacha20-poly1305"),
        "openssl enc does not support AEAD modes (GCM, CCM, OCB, SIV, ChaCha20-Poly1305): "
        + _CHOOSE_MODE,
    ),
    (("xts",), f"XTS is for disk sectors and openssl enc refuses it: {_CHOOSE_MODE}"),
    (("wrap",), f"key-wrap modes wrap keys, not streams: {_CHOOSE_MODE}"),
    (("-hmac-",), f"stitched cipher+HMAC modes are for TLS records only: {_CHOOSE_MODE}"),
    (("null",), f"the null cipher does not encrypt: {_CHOOSE_MODE}"),
)
_DIGEST_REFUSALS: Final[Refusals] = (
    (("shake",), f"is an extendable-output function, not a fixed-size digest: {_CHOOSE_DIGEST}"),
    (("kmac",), f"is the Keccak core of KMAC, not a digest: {_CHOOSE_DIGEST}"),
    (("md5-sha1",), f"is the MD5+SHA1 pair internal to TLS 1.0: {_CHOOSE_DIGEST}"),
    (("null",), f"the null digest hashes nothing: {_CHOOSE_DIGEST}"),
)
# Weak algorithms the default provider still offers, so "legacy" by policy, not by provider.
_WEAK_DIGESTS: Final = frozenset({"md5", "ssl3-md5", "sha1", "sha-1", "ssl3-sha1"})


@dataclass(frozen=True, slots=True)
class Kind:
    """How to list, name, refuse and grade one kind of algorithm."""

    kind: str
    listing: str  # the option of `openssl list`
    command: str  # `enc` or `dgst`, whose -list names what it accepts
    refusals: Refusals
    not_offered: str
    pick: Callable[[Sequence[str]], str]  # the canonical name among the accepted aliases
    weak: Callable[[frozenset[str]], bool]


def _pick_cipher(names: Sequence[str]) -> str:
    # The full mode name: "des-ede3-cbc" over "des3", "cast5-cbc" over "cast", "rc2-cbc" over "rc2".
    return max(names, key=lambda name: (_MODE_SUFFIX.search(name) is not None, len(name)))


def _pick_digest(names: Sequence[str]) -> str:
    # The first with a size in it: "ripemd160" over "ripemd"; "sha256" already comes first.
    return min(names, key=lambda name: not any(char.isdigit() for char in name))


def _weak_cipher(aliases: frozenset[str]) -> bool:
    # Single DES ("des", "des-cbc"...), double and triple DES ("des-ede*", "des3") and "desx".
    return any(alias.startswith("des") for alias in aliases)


def _weak_digest(aliases: frozenset[str]) -> bool:
    return not aliases.isdisjoint(_WEAK_DIGESTS)


CIPHERS: Final = Kind(
    "cipher",
    "-cipher-algorithms",
    "enc",
    _CIPHER_REFUSALS,
    f"openssl enc does not offer it: {_CHOOSE_MODE}",
    _pick_cipher,
    _weak_cipher,
)
DIGESTS: Final = Kind(
    "digest",
    "-digest-algorithms",
    "dgst",
    _DIGEST_REFUSALS,
    f"openssl dgst does not offer it: {_CHOOSE_DIGEST}",
    _pick_digest,
    _weak_digest,
)


def refusal(aliases: frozenset[str], refusals: Refusals) -> str:
    """The reason of the first refusal matching any alias, or "" when none does."""
    for fragments, reason in refusals:
        if any(fragment in alias for fragment in fragments for alias in aliases):
            return reason
    return ""
