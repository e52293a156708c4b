"""Reading the output of ``openssl list -cipher-algorithms`` / ``-digest-algorithms``.

Each algorithm becomes one :data:`Group`: its names in openssl's order, every alias the
listing's "alias => name" lines give it, and the provider that implements it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final, TypeAlias

__all__ = ["Group", "parse_listing", "with_aliases"]

_OID: Final = re.compile(r"\d+(?:\.\d+)+")
_ALIAS_LINE: Final = re.compile(r"(\S+) => (\S+)")
_PROVIDED_LINE: Final = re.compile(
    r"(?:\{(?P<group>[^}]*)\}|(?P<single>\S+))\s*@\s*(?P<provider>\S+)"
)


Group: TypeAlias = tuple[tuple[str, ...], str]  # lowercase names in openssl's order, provider


def parse_listing(text: str, *, provided: bool) -> tuple[list[Group], dict[str, str]]:
    """The algorithms of ``openssl list -…-algorithms``, and its "alias => name" lines.

    OpenSSL 3 prints a "Legacy:" section (the old static name table, and the alias lines) and a
    "Provided:" section, what the loaded providers really implement: only that one lists
    algorithms. OpenSSL 1.1.1 prints a single list, every name in it built in.
    """
    groups: list[Group] = []
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


def _provided(line: str) -> Group | None:
    """``{ 2.16.840.1.101.3.4.1.42, AES-256-CBC, AES256 } @ default``, without its OIDs."""
    entry = _PROVIDED_LINE.fullmatch(line)
    if entry is None:
        return None
    names = (name.strip() for name in (entry["group"] or entry["single"]).split(","))
    lowered = tuple(dict.fromkeys(name.lower() for name in names if not _OID.fullmatch(name)))
    return (lowered, entry["provider"]) if lowered else None


def with_aliases(groups: list[Group], alias_lines: Mapping[str, str]) -> list[Group]:
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
