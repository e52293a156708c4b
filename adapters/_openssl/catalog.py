"""The ciphers and digests an openssl binary offers, learnt by asking that binary.

:func:`find_openssl` runs ``openssl version``, ``openssl list -cipher-algorithms``, ``openssl
enc -list``, ``openssl list -digest-algorithms`` and ``openssl dgst -list`` once per binary and
keeps the answer as an :class:`OpenSSL`, whose :meth:`~OpenSSL.cipher` and
:meth:`~OpenSSL.digest` turn a name a user typed into an :class:`Algorithm` or a helpful error.

Why both lists: ``openssl list`` says what the loaded providers implement (OpenSSL 3 moved
whirlpool, blowfish, single DES... to the "legacy" provider), ``enc -list`` / ``dgst -list``
say which names the command accepts. ``enc -list`` still holds key-wrap modes, which
``enc`` cannot use on a stream, and leaves out GCM, XTS..., which a user may still type: those
are kept in a table of refusals so the error says why rather than "unknown".
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final, TypeAlias, final

from adapters._openssl.errors import AlgorithmRefused, OpenSSLNotFound, UnknownAlgorithm

__all__ = ["Algorithm", "OpenSSL", "find_openssl"]

_TIMEOUT: Final = 30.0
_LEGACY_FLAGS: Final = ("-provider", "legacy", "-provider", "default")
_SET_PATH: Final = "set [crypto] openssl in config.toml or FANOUT_CRYPTO__OPENSSL"
_LEGACY_REASON: Final = (
    "is a legacy algorithm: set [crypto] allow_legacy = true "
    "(or FANOUT_CRYPTO__ALLOW_LEGACY=true) to use it"
)
_VERSION: Final = re.compile(r"OpenSSL (\d+)\.(\d+)\.(\d+)([a-z]?)\b")
_OID: Final = re.compile(r"\d+(?:\.\d+)+")
_ALIAS_LINE: Final = re.compile(r"(\S+) => (\S+)")
_PROVIDED_LINE: Final = re.compile(
    r"(?:\{(?P<group>[^}]*)\}|(?P<single>\S+))\s*@\s*(?P<provider>\S+)"
)
_MODE_SUFFIX: Final = re.compile(r"-(?:cbc|ecb|ofb|ctr|cfb\d*)$")

_CHOOSE_MODE: Final = "choose a mode such as aes-256-cbc or aes-256-ctr"
_CHOOSE_DIGEST: Final = "choose a digest such as sha256 or sha3-256"

# (substrings of any alias, reason): the first match refuses the algorithm.
_Refusals: TypeAlias = tuple[tuple[tuple[str, ...], str], ...]
_CIPHER_REFUSALS: Final[_Refusals] = (
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
_DIGEST_REFUSALS: Final[_Refusals] = (
    (("shake",), f"is an extendable-output function, not a fixed-size digest: {_CHOOSE_DIGEST}"),
    (("kmac",), f"is the Keccak core of KMAC, not a digest: {_CHOOSE_DIGEST}"),
    (("md5-sha1",), f"is the MD5+SHA1 pair internal to TLS 1.0: {_CHOOSE_DIGEST}"),
    (("null",), f"the null digest hashes nothing: {_CHOOSE_DIGEST}"),
)
# Weak algorithms the default provider still offers, so "legacy" by policy, not by provider.
_WEAK_DIGESTS: Final = frozenset({"md5", "ssl3-md5", "sha1", "sha-1", "ssl3-sha1"})


@final
@dataclass(frozen=True, slots=True)
class Algorithm:
    """A cipher or digest: ``name`` is what the chain passes to openssl (``-<name>``)."""

    kind: str
    name: str
    aliases: frozenset[str]
    legacy: bool
    provider: str


_Refused: TypeAlias = Mapping[str, tuple[Algorithm, str]]


@final
@dataclass(frozen=True, slots=True)
class OpenSSL:
    """One openssl binary and what its ``enc`` and ``dgst`` accept, keyed by lowercase alias."""

    path: str
    version: str
    version_info: tuple[int, ...]
    ciphers: Mapping[str, Algorithm] = field(repr=False)
    digests: Mapping[str, Algorithm] = field(repr=False)
    _refused_ciphers: _Refused = field(repr=False)
    _refused_digests: _Refused = field(repr=False)

    def cipher(self, name: str, *, allow_legacy: bool) -> Algorithm:
        """The cipher ``openssl enc`` knows as ``name`` (any alias, case, one leading ``-``)."""
        return _lookup("cipher", name, self.ciphers, self._refused_ciphers, allow_legacy)

    def digest(self, name: str, *, allow_legacy: bool) -> Algorithm:
        """The digest ``openssl dgst`` knows as ``name`` (any alias, case, one leading ``-``)."""
        return _lookup("digest", name, self.digests, self._refused_digests, allow_legacy)

    def provider_args(self, *algorithms: Algorithm) -> list[str]:
        """``-provider legacy -provider default`` when any algorithm lives in the legacy
        provider (OpenSSL 3 moved whirlpool, bf, single DES... there), else ``[]``."""
        return list(_LEGACY_FLAGS) if any(a.provider == "legacy" for a in algorithms) else []

    def cipher_names(self, *, allow_legacy: bool) -> list[str]:
        """The canonical cipher names, sorted; legacy ones only when allowed."""
        return _names(self.ciphers.values(), allow_legacy)

    def digest_names(self, *, allow_legacy: bool) -> list[str]:
        """The canonical digest names, sorted; legacy ones only when allowed."""
        return _names(self.digests.values(), allow_legacy)


def _names(algorithms: Iterable[Algorithm], allow_legacy: bool) -> list[str]:
    return sorted({a.name for a in algorithms if allow_legacy or not a.legacy})


def _lookup(
    kind: str, name: str, offered: Mapping[str, Algorithm], refused: _Refused, allow_legacy: bool
) -> Algorithm:
    key = name.strip().removeprefix("-").lower()
    if key in refused:
        raise AlgorithmRefused(kind, name, refused[key][1])
    algorithm = offered.get(key)
    if algorithm is None:
        raise UnknownAlgorithm(kind, name, _names(offered.values(), allow_legacy))
    if algorithm.legacy and not allow_legacy:
        raise AlgorithmRefused(kind, name, _LEGACY_REASON, needs_legacy=True)
    return algorithm


@dataclass(frozen=True, slots=True)
class _Kind:
    """How to list, name, refuse and grade one kind of algorithm."""

    kind: str
    listing: str  # the option of `openssl list`
    command: str  # `enc` or `dgst`, whose -list names what it accepts
    refusals: _Refusals
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


_CIPHERS: Final = _Kind(
    "cipher",
    "-cipher-algorithms",
    "enc",
    _CIPHER_REFUSALS,
    f"openssl enc does not offer it: {_CHOOSE_MODE}",
    _pick_cipher,
    _weak_cipher,
)
_DIGESTS: Final = _Kind(
    "digest",
    "-digest-algorithms",
    "dgst",
    _DIGEST_REFUSALS,
    f"openssl dgst does not offer it: {_CHOOSE_DIGEST}",
    _pick_digest,
    _weak_digest,
)

_cache: Final[dict[tuple[str, int], OpenSSL]] = {}
_cache_lock: Final = threading.Lock()


def find_openssl(path: str = "") -> OpenSSL:
    """The openssl at ``path`` (absolute or relative), or the one on PATH when ``path`` is "".

    Blocking: the first call per binary runs openssl about five times, so callers run it in a worker
    thread. Answers are cached per (resolved path, mtime), so later calls cost a ``stat``.
    """
    binary = _locate(path)
    try:
        key = (os.path.realpath(binary), os.stat(binary).st_mtime_ns)
    except OSError as exc:
        raise OpenSSLNotFound(f"openssl {binary!r} cannot be read ({exc}): {_SET_PATH}") from exc
    with _cache_lock:
        cached = _cache.get(key)
    if cached is not None:
        return cached
    # Probed outside the lock so one slow binary does not hold up callers of another; two
    # threads probing the same binary at once both succeed and agree on the first answer.
    probed = _probe(binary)
    with _cache_lock:
        return _cache.setdefault(key, probed)


def _locate(path: str) -> str:
    if not path:
        found = shutil.which("openssl")
        if found is None:
            raise OpenSSLNotFound(f"no openssl on PATH: install OpenSSL 1.1.1+ or {_SET_PATH}")
        return os.path.abspath(found)
    # Absolute, so that a bare "openssl" names ./openssl and is not looked up on PATH.
    binary = os.path.abspath(path)
    if not os.path.isfile(binary):
        raise OpenSSLNotFound(f"openssl {path!r} is not a file: {_SET_PATH} to an openssl binary")
    if not os.access(binary, os.X_OK):
        raise OpenSSLNotFound(f"openssl {path!r} is not executable: {_SET_PATH} to one that is")
    return binary


def _run(binary: str, *args: str) -> subprocess.CompletedProcess[str]:
    argv = [binary, *args]
    try:
        return subprocess.run(
            argv, capture_output=True, text=True, errors="replace", timeout=_TIMEOUT, check=False
        )
    except subprocess.TimeoutExpired as exc:
        message = f"openssl {binary!r} did not finish `{' '.join(args)}` in {_TIMEOUT:g} s"
        raise OpenSSLNotFound(f"{message}: {_SET_PATH} to a working openssl") from exc
    except OSError as exc:
        message = f"openssl {binary!r} cannot be run ({exc.strerror or exc})"
        raise OpenSSLNotFound(f"{message}: {_SET_PATH} to a working openssl") from exc


def _probe(binary: str) -> OpenSSL:
    version, version_info = _version(binary)
    ciphers, refused_ciphers = _catalog(_CIPHERS, binary, providers=version_info >= (3,))
    digests, refused_digests = _catalog(_DIGESTS, binary, providers=version_info >= (3,))
    return OpenSSL(
        binary, version, version_info, ciphers, digests, refused_ciphers, refused_digests
    )


def _version(binary: str) -> tuple[str, tuple[int, ...]]:
    result = _run(binary, "version")
    first = next(iter((result.stdout or result.stderr).strip().splitlines()), "")
    match = _VERSION.match(first)
    if result.returncode != 0 or match is None:
        raise OpenSSLNotFound(
            f"{binary!r} is not OpenSSL: `version` printed {first!r}; "
            f"install OpenSSL 1.1.1+ or {_SET_PATH}"
        )
    version_info = tuple(int(part) for part in match.groups()[:3])
    version = ".".join(match.groups()[:3]) + match[4]
    if version_info < (1, 1, 1):
        raise OpenSSLNotFound(
            f"openssl {binary!r} is OpenSSL {version}: -pbkdf2 needs 1.1.1 or later; {_SET_PATH}"
        )
    return version, version_info


def _catalog(
    kind: _Kind, binary: str, *, providers: bool
) -> tuple[Mapping[str, Algorithm], _Refused]:
    groups, alias_lines = _parse_listing(_listing(kind, binary, providers), providers)
    accepted = _accepted(kind, binary)
    offered: dict[str, Algorithm] = {}
    refused: dict[str, tuple[Algorithm, str]] = {}
    for names, provider in _with_aliases(groups, alias_lines):
        usable = [n for n in names if accepted is None or n in accepted]
        aliases = frozenset(names)
        legacy = provider == "legacy" or kind.weak(aliases)
        algorithm = Algorithm(kind.kind, kind.pick(usable or names), aliases, legacy, provider)
        reason = _refusal(aliases, kind.refusals) or ("" if usable else kind.not_offered)
        for alias in aliases:
            if reason:
                refused[alias] = (algorithm, reason)
            else:
                offered[alias] = algorithm
    return MappingProxyType(offered), MappingProxyType(refused)


def _listing(kind: _Kind, binary: str, providers: bool) -> str:
    if providers:
        result = _run(binary, "list", kind.listing, *_LEGACY_FLAGS)
        if result.returncode == 0:
            return result.stdout
    # No legacy provider installed (or OpenSSL 1.1.1, which has no -provider): the default's.
    result = _run(binary, "list", kind.listing)
    if result.returncode != 0:
        summary = next(iter(result.stderr.strip().splitlines()), "no output")
        raise OpenSSLNotFound(f"openssl {binary!r} failed `list {kind.listing}`: {summary}")
    return result.stdout


def _accepted(kind: _Kind, binary: str) -> frozenset[str] | None:
    """The names ``openssl enc -list`` / ``dgst -list`` print, or None (accept all) if neither."""
    result = _run(binary, kind.command, "-list")
    if result.returncode != 0:
        return None
    words = result.stdout.split()
    return frozenset(word[1:].lower() for word in words if word.startswith("-"))


_Group: TypeAlias = tuple[tuple[str, ...], str]  # lowercase names in openssl's order, provider


def _parse_listing(text: str, provided: bool) -> tuple[list[_Group], dict[str, str]]:
    """The algorithms of ``openssl list -…-algorithms``, and its "alias => name" lines.

    OpenSSL 3 prints a "Legacy:" section (the old static name table, and the alias lines) and a
    "Provided:" section, what the loaded providers really implement: only that one lists
    algorithms. OpenSSL 1.1.1 prints a single list, every name in it built in.
    """
    groups: list[_Group] = []
    alias_lines: dict[str, str] = {}
    section = ""
    for line in text.splitlines():
        stripped = line.strip()
        if stripped in ("Legacy:", "Provided:"):
            section = stripped
        elif alias := _ALIAS_LINE.fullmatch(stripped):
            alias_lines[alias[1].lower()] = alias[2].lower()
        elif not provided and stripped:
            groups.append(((stripped.lower(),), "builtin"))
        elif section == "Provided:" and (group := _provided(stripped)):
            groups.append(group)
    return groups, alias_lines


def _provided(line: str) -> _Group | None:
    """``{ 2.16.840.1.101.3.4.1.42, AES-256-CBC, AES256 } @ default``, without its OIDs."""
    entry = _PROVIDED_LINE.fullmatch(line)
    if entry is None:
        return None
    names = (name.strip() for name in (entry["group"] or entry["single"]).split(","))
    lowered = tuple(dict.fromkeys(name.lower() for name in names if not _OID.fullmatch(name)))
    return (lowered, entry["provider"]) if lowered else None


def _with_aliases(groups: list[_Group], alias_lines: Mapping[str, str]) -> list[_Group]:
    """One group per algorithm, from "default" when two providers offer it, with its aliases."""
    owner: dict[str, int] = {}
    merged: list[list[str]] = []
    providers: list[str] = []
    # RIPEMD-160 is in both default and legacy: taking default spares the legacy flags.
    for names, provider in sorted(groups, key=lambda group: group[1] != "default"):
        if owner.keys().isdisjoint(names):
            owner.update(dict.fromkeys(names, len(merged)))
            merged.append(list(names))
            providers.append(provider)
    # Alias lines chain ("rsa-sha1-2 => rsa-sha1 => sha1"): repeat until none is added.
    pending = {alias: target for alias, target in alias_lines.items() if alias not in owner}
    while added := [alias for alias, target in pending.items() if target in owner]:
        for alias in added:
            owner[alias] = owner[pending.pop(alias)]
            merged[owner[alias]].append(alias)
    return [(tuple(names), provider) for names, provider in zip(merged, providers, strict=True)]


def _refusal(aliases: frozenset[str], refusals: _Refusals) -> str:
    for fragments, reason in refusals:
        if any(fragment in alias for fragment in fragments for alias in aliases):
            return reason
    return ""
