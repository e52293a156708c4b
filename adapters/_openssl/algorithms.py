"""What one openssl binary offers, and a typed name turned into an :class:`Algorithm`.

An :class:`OpenSSL` holds the ciphers ``enc`` and the digests ``dgst`` accept, keyed by every
alias, and those it refuses with the reason; :mod:`.catalog` builds it by asking the binary.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final, TypeAlias, final

from adapters._openssl.errors import AlgorithmRefused, UnknownAlgorithm

__all__ = ["LEGACY_FLAGS", "Algorithm", "OpenSSL", "Refused"]

LEGACY_FLAGS: Final = ("-provider", "legacy", "-provider", "default")
_LEGACY_REASON: Final = (
    "is a legacy algorithm: set [crypto] allow_legacy = true "
    "(or FANOUT_CRYPTO__ALLOW_LEGACY=true) to use it"
)


@final
@dataclass(frozen=True, slots=True)
class Algorithm:
    """A cipher or digest: ``name`` is what the chain passes to openssl (``-<name>``)."""

    kind: str
    name: str
    aliases: frozenset[str]
    legacy: bool
    provider: str


Refused: TypeAlias = Mapping[str, tuple[Algorithm, str]]


@final
@dataclass(frozen=True, slots=True)
class OpenSSL:
    """One openssl binary and what its ``enc`` and ``dgst`` accept, keyed by lowercase alias."""

    path: str
    version: str
    version_info: tuple[int, ...]
    ciphers: Mapping[str, Algorithm] = field(repr=False)
    digests: Mapping[str, Algorithm] = field(repr=False)
    _refused_ciphers: Refused = field(repr=False)
    _refused_digests: Refused = field(repr=False)

    def cipher(self, name: str, *, allow_legacy: bool) -> Algorithm:
        """The cipher ``openssl enc`` knows as ``name`` (any alias, case, one leading ``-``)."""
        return _lookup("cipher", name, self.ciphers, self._refused_ciphers, allow_legacy)

    def digest(self, name: str, *, allow_legacy: bool) -> Algorithm:
        """The digest ``openssl dgst`` knows as ``name`` (any alias, case, one leading ``-``)."""
        return _lookup("digest", name, self.digests, self._refused_digests, allow_legacy)

    def provider_args(self, *algorithms: Algorithm) -> list[str]:
        """``-provider legacy -provider default`` when any algorithm lives in the legacy
        provider (OpenSSL 3 moved whirlpool, bf, single DES... there), else ``[]``."""
        return list(LEGACY_FLAGS) if any(a.provider == "legacy" for a in algorithms) else []

    def cipher_names(self, *, allow_legacy: bool) -> list[str]:
        """The canonical cipher names, sorted; legacy ones only when allowed."""
        return _names(self.ciphers.values(), allow_legacy=allow_legacy)

    def digest_names(self, *, allow_legacy: bool) -> list[str]:
        """The canonical digest names, sorted; legacy ones only when allowed."""
        return _names(self.digests.values(), allow_legacy=allow_legacy)


def _names(algorithms: Iterable[Algorithm], *, allow_legacy: bool) -> list[str]:
    return sorted({a.name for a in algorithms if allow_legacy or not a.legacy})


def _lookup(
    kind: str, name: str, offered: Mapping[str, Algorithm], refused: Refused, allow_legacy: bool
) -> Algorithm:
    key = name.strip().removeprefix("-").lower()
    if key in refused:
        raise AlgorithmRefused(kind, name, refused[key][1])
    algorithm = offered.get(key)
    if algorithm is None:
        raise UnknownAlgorithm(kind, name, _names(offered.values(), allow_legacy=allow_legacy))
    if algorithm.legacy and not allow_legacy:
        raise AlgorithmRefused(kind, name, _LEGACY_REASON, needs_legacy=True)
    return algorithm
