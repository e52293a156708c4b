"""Settings declared as dataclass fields, checked generically from their types and metadata.

A settings tree is a root dataclass whose fields are sections; a section is a dataclass whose
fields are keys of type ``bool``, ``int``, ``float`` or ``str``. A key's constraints live in
its field's metadata (see ``setting``), so adding a key is one line and never new checking code.
Values arrive in layers (a TOML file, environment variables, caller overrides); every layer is
checked on its own so an error names where the wrong value came from.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Final, TypeVar, final, get_type_hints

from service.errors import ConfigError

__all__ = ["Spec", "Values", "apply_layer", "build", "check", "lookup", "parse_text", "setting"]

T = TypeVar("T")
Values = dict[str, dict[str, object]]
"""Checked values per section and key, to be laid over the dataclass defaults."""

_SPEC: Final = "fanout.spec"
_BOOLS: Final[Mapping[str, bool]] = {
    "true": True, "1": True, "yes": True, "false": False, "0": False, "no": False,
}  # fmt: skip
_KINDS: Final = (bool, int, float, str)
_NOUNS: Final[Mapping[type, str]] = {int: "an integer", float: "a number", str: "a string"}


@final
@dataclass(frozen=True, slots=True)
class Spec:
    """What a key allows beyond its type: an inclusive range, a fixed set, or non-emptiness."""

    min: float | None = None
    max: float | None = None
    choices: tuple[str, ...] = ()
    nonempty: bool = False

    def requirement(self, kind: type) -> str:
        """The rule a wrong value broke, phrased to follow ``must be``."""
        if kind is bool:
            return "true or false"
        if self.choices:
            return "one of " + ", ".join(map(repr, self.choices))
        noun = "a non-empty string" if self.nonempty else _NOUNS[kind]
        low, high = _number(self.min), _number(self.max)
        if low and high:
            return f"{noun} from {low} to {high}"
        return f"{noun} >= {low}" if low else f"{noun} <= {high}" if high else noun


def setting(
    default: T,
    *,
    min: float | None = None,
    max: float | None = None,
    choices: tuple[str, ...] = (),
    nonempty: bool = False,
) -> T:
    """A dataclass field with a default and the constraints its loaded values must meet."""
    spec = Spec(min, max, choices, nonempty)
    return field(default=default, metadata={_SPEC: spec})


def lookup(root: type, section: str, key: str, source: str) -> tuple[type, Spec]:
    """The type and constraints of ``section.key``; ConfigError naming the choices if unknown."""
    keys = _keys(_section(root, section, source))
    if key not in keys:
        allowed = ", ".join(keys) if keys else "none yet"
        raise ConfigError(
            f"{source}: unknown key {section + '.' + key!r}: allowed keys in [{section}] are "
            f"{allowed}{_guess(key, keys)}"
        )
    return keys[key]


def apply_layer(root: type, values: Values, layer: Mapping[str, object], source: str) -> None:
    """Check a TOML-shaped ``{section: {key: value}}`` layer and write it into ``values``."""
    for section, table in layer.items():
        _section(root, section, source)
        if not isinstance(table, Mapping):
            raise ConfigError(f"{source}: [{section}] must be a table of keys, got {_show(table)}")
        for key, value in table.items():
            kind, spec = lookup(root, section, key, source)
            values.setdefault(section, {})[key] = check(
                kind, spec, value, f"{source}: {section}.{key}"
            )


def parse_text(kind: type, spec: Spec, text: str, where: str) -> object:
    """Convert an environment string to ``kind``: ``1_000``, ``2.5``, ``yes``/``no``, as-is."""
    cleaned = text.strip()
    try:
        if kind is bool:
            return _BOOLS[cleaned.lower()]
        if kind is int or kind is float:
            return kind(cleaned)
    except (KeyError, ValueError):
        raise ConfigError(f"{where} = {text!r}: must be {spec.requirement(kind)}") from None
    return text


def check(kind: type, spec: Spec, value: object, where: str) -> object:
    """``value`` as ``kind`` if it meets ``spec``; ConfigError naming it and the rule otherwise."""
    # TOML writes 10 for 10.0; the reverse (a float where an int is due) loses data, so no.
    if kind is float and type(value) is int and abs(value) < 2**53:
        value = float(value)
    if type(value) is not kind or not _within(spec, value):
        raise ConfigError(f"{where} = {_show(value)}: must be {spec.requirement(kind)}")
    return value


def build(root: type[T], values: Values) -> T:
    """The root dataclass with ``values`` laid over every section's defaults."""
    sections = _section_types(root)
    built: dict[str, Any] = {name: kind(**values.get(name, {})) for name, kind in sections.items()}
    return root(**built)


def _within(spec: Spec, value: object) -> bool:
    if isinstance(value, float) and not math.isfinite(value):
        return False
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (spec.min is None or value >= spec.min) and (spec.max is None or value <= spec.max)
    if isinstance(value, str):
        chosen = not spec.choices or value in spec.choices
        return chosen and not (spec.nonempty and not value.strip())
    return True


def _section(root: type, section: str, source: str) -> type:
    sections = _section_types(root)
    if section not in sections:
        raise ConfigError(
            f"{source}: unknown section [{section}]: allowed sections are "
            f"{', '.join(sections)}{_guess(section, sections)}"
        )
    return sections[section]


def _section_types(root: type) -> dict[str, type]:
    hints = get_type_hints(root)
    return {f.name: hints[f.name] for f in fields(root)}


def _keys(section: type) -> dict[str, tuple[type, Spec]]:
    hints = get_type_hints(section)
    for name, kind in hints.items():
        if kind not in _KINDS:
            # A programming error in a section's declaration, not a user's config mistake.
            raise TypeError(
                f"{section.__name__}.{name}: {kind!r} is not one of bool, int, float, str"
            )
    return {f.name: (hints[f.name], f.metadata.get(_SPEC, Spec())) for f in fields(section)}


def _guess(name: str, known: Mapping[str, object]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _number(bound: float | None) -> str:
    # Underscores keep 1_073_741_824 readable, and TOML and FANOUT_* accept them back.
    if bound is None:
        return ""
    return f"{bound:_}" if isinstance(bound, int) else str(bound)


def _show(value: object) -> str:
    # TOML spelling for booleans; Python's repr elsewhere quotes strings unambiguously.
    if isinstance(value, bool):
        return "true" if value else "false"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
