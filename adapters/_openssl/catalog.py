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

This module asks the binary and caches the answer; :mod:`.algorithms` holds what it learns,
:mod:`.kinds` the policy on each kind (refusals, legacy, canonical names) and :mod:`.listing`
reads ``openssl list``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from types import MappingProxyType
from typing import Final

from adapters._openssl.algorithms import LEGACY_FLAGS, Algorithm, OpenSSL, Refused
from adapters._openssl.errors import OpenSSLNotFound
from adapters._openssl.kinds import CIPHERS, DIGESTS, Kind, refusal
from adapters._openssl.listing import parse_listing, with_aliases
from adapters.environment import child_environment

__all__ = ["find_openssl", "known_openssl"]

_TIMEOUT: Final = 30.0
_SET_PATH: Final = "set [crypto] openssl in config.toml or FANOUT_CRYPTO__OPENSSL"
_VERSION: Final = re.compile(r"OpenSSL (\d+)\.(\d+)\.(\d+)([a-z]?)\b")

_cache: Final[dict[tuple[str, int], OpenSSL]] = {}
_cache_lock: Final = threading.Lock()
# The last answer per path as given, for known_openssl: no disk involved.
_known: Final[dict[str, OpenSSL]] = {}


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
    # Probed outside the lock so one slow binary does not hold up callers of another; two
    # threads probing the same binary at once both succeed and agree on the first answer.
    probed = _probe(binary) if cached is None else cached
    with _cache_lock:
        _known[path] = found = _cache.setdefault(key, probed)
    return found


def known_openssl(path: str = "") -> OpenSSL | None:
    """What the last :func:`find_openssl` of ``path`` in this process found, or None before it.

    Never blocks: no ``stat``, no child. For a check on the event loop (a daemon learns its
    openssl once at start); the binary may have changed since, so a run still asks
    :func:`find_openssl`.
    """
    with _cache_lock:
        return _known.get(path)


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
            argv,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=_TIMEOUT,
            check=False,
            env=child_environment(),
        )
    except subprocess.TimeoutExpired as exc:
        message = f"openssl {binary!r} did not finish `{' '.join(args)}` in {_TIMEOUT:g} s"
        raise OpenSSLNotFound(f"{message}: {_SET_PATH} to a working openssl") from exc
    except OSError as exc:
        message = f"openssl {binary!r} cannot be run ({exc.strerror or exc})"
        raise OpenSSLNotFound(f"{message}: {_SET_PATH} to a working openssl") from exc


def _probe(binary: str) -> OpenSSL:
    """Ask the binary: its version first (it says whether providers exist), then the four
    listings at once, each a child of its own, so a probe costs two children's time, not five."""
    version, version_info = _version(binary)
    providers = version_info >= (3,)
    with ThreadPoolExecutor(4, thread_name_prefix="openssl-probe") as pool:
        listings = [
            pool.submit(partial(_listing, kind, binary, providers=providers))
            for kind in (CIPHERS, DIGESTS)
        ]
        accepted = [pool.submit(_accepted, kind, binary) for kind in (CIPHERS, DIGESTS)]
    ciphers, refused_ciphers = _catalog(
        CIPHERS, listings[0].result(), accepted[0].result(), providers=providers
    )
    digests, refused_digests = _catalog(
        DIGESTS, listings[1].result(), accepted[1].result(), providers=providers
    )
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
    kind: Kind, listing: str, accepted: frozenset[str] | None, *, providers: bool
) -> tuple[Mapping[str, Algorithm], Refused]:
    groups, alias_lines = parse_listing(listing, provided=providers)
    offered: dict[str, Algorithm] = {}
    refused: dict[str, tuple[Algorithm, str]] = {}
    for names, provider in with_aliases(groups, alias_lines):
        usable = [n for n in names if accepted is None or n in accepted]
        aliases = frozenset(names)
        legacy = provider == "legacy" or kind.weak(aliases)
        algorithm = Algorithm(kind.kind, kind.pick(usable or names), aliases, legacy, provider)
        reason = refusal(aliases, kind.refusals) or ("" if usable else kind.not_offered)
        for alias in aliases:
            if reason:
                refused[alias] = (algorithm, reason)
            else:
                offered[alias] = algorithm
    return MappingProxyType(offered), MappingProxyType(refused)


def _listing(kind: Kind, binary: str, *, providers: bool) -> str:
    if providers:
        result = _run(binary, "list", kind.listing, *LEGACY_FLAGS)
        if result.returncode == 0:
            return result.stdout
    # No legacy provider installed (or OpenSSL 1.1.1, which has no -provider): the default's.
    result = _run(binary, "list", kind.listing)
    if result.returncode != 0:
        summary = next(iter(result.stderr.strip().splitlines()), "no output")
        raise OpenSSLNotFound(f"openssl {binary!r} failed `list {kind.listing}`: {summary}")
    return result.stdout


def _accepted(kind: Kind, binary: str) -> frozenset[str] | None:
    """The names ``openssl enc -list`` / ``dgst -list`` print, or None (accept all) if neither."""
    result = _run(binary, kind.command, "-list")
    if result.returncode != 0:
        return None
    words = result.stdout.split()
    return frozenset(word[1:].lower() for word in words if word.startswith("-"))
