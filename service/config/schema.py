"""Settings declared as dataclass fields, checked generically from their types and metadata.

A settings tree is a root dataclass whose fields are sections; a section is a dataclass whose
fields are keys of type ``bool``, ``int``, ``float`` or ``str``, or tables of strings
(``Mapping[str, str]`` declared with ``setting({}, table=True)``: a TOML sub-table such as
``[pipeline.destinations]``, held as an immutable :class:`Table`). A key's constraints live in
its field's metadata (see ``setting``), so adding a key is one line and never new checking code.
Values arrive in layers (a TOML file, environment variables, caller overrides); every layer is
checked on its own so an error names where the wrong value came from. A layer replaces a
scalar, and lays a table's entries over the entries before it (the default's included).
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Final, TypeVar, cast, final, get_args, get_origin, get_type_hints

from service.errors import ConfigError

__all__ = [
    "Spec",
    "Table",
    "Values",
    "apply_entry",
    "apply_layer",
    "build",
    "check",
    "lookup",
    "parse_text",
    "setting",
]

T = TypeVar("T")
Values = dict[str, dict[str, object]]
"""Checked values per section and key, to be laid over the dataclass defaults."""

_SPEC: Final = "fanout.spec"
_BOOLS: Final[Mapping[str, bool]] = {
    "true": True, "1": True, "yes": True, "false": False, "0": False, "no": False,
}  # fmt: skip
_KINDS: Final = (bool, int, float, str)
_NOUNS: Final[Mapping[type, str]] = {int: "an integer", float: "a number", str: "a string"}
# Entry names are lowercase because a FANOUT_* variable's name is case-insensitive: an entry
# called "Thumbs" could never be reached from the environment.
_ENTRY_NAME: Final = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
_ENTRY_RULE: Final = "lowercase letters, digits, '_' and '-', starting with a letter or digit"


@final
class Table(Mapping[str, str]):
    """An immutable, hashable table of strings: the value of a ``table=True`` setting."""

    __slots__ = ("_entries",)

    def __init__(self, entries: Mapping[str, str] | None = None) -> None:
        self._entries: dict[str, str] = dict(entries or {})

    def __getitem__(self, name: str) -> str:
        return self._entries[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __hash__(self) -> int:
        return hash(frozenset(self._entries.items()))

    def __repr__(self) -> str:
        return f"Table({self._entries!r})"


@final
@dataclass(frozen=True, slots=True)
class Spec:
    """What a key allows beyond its type: an inclusive range, a fixed set, or non-emptiness.

    ``table``: the key is a table of strings, each entry meeting the rest of the spec.
    """

    min: float | None = None
    max: float | None = None
    choices: tuple[str, ...] = ()
    nonempty: bool = False
    table: bool = False

    def requirement(self, kind: type) -> str:
        """The rule a wrong value broke, phrased to follow ``must be``."""
        if kind is bool:
            return "true or false"
        if kind is Table:
            return 'a table of names to strings, such as {name = "value"}'
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
    table: bool = False,
) -> T:
    """A dataclass field with a default and the constraints its loaded values must meet.

    ``table=True`` declares a ``Mapping[str, str]`` key; ``default`` is its entries, and
    ``choices`` and ``nonempty`` apply to every entry's value.
    """
    spec = Spec(min, max, choices, nonempty, table)
    value: object = Table(cast("Mapping[str, str]", default)) if table else default
    return cast("T", field(default=value, metadata={_SPEC: spec}))


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
            checked = check(kind, spec, value, f"{source}: {section}.{key}")
            if isinstance(checked, Table):
                checked = Table({**_current(root, values, section, key), **checked})
            values.setdefault(section, {})[key] = checked


def apply_entry(root: type, values: Values, section: str, key: str, text: str, source: str) -> None:
    """Apply one environment string to ``section.key``, or to one entry: ``key`` = ``TABLE__NAME``.

    A table is changed an entry at a time, over the entries of the layers before; an empty
    ``text`` removes the entry, so a deployment can take back what the config file declared.
    """
    keys = _keys(_section(root, section, source))
    table, _, entry = key.partition("__")
    if entry and table in keys and keys[table][0] is Table:
        _set_entry(root, values, (section, table, entry), keys[table][1], text, source)
        return
    kind, spec = lookup(root, section, key, source)
    if kind is Table:
        raise ConfigError(
            f"{source}: {section}.{key} is a table: set one entry at a time, the entry's name "
            f"after the key and a double underscore ({key.upper()}__NAME=VALUE)"
        )
    where = f"{source}: {section}.{key}"
    values.setdefault(section, {})[key] = check(
        kind, spec, parse_text(kind, spec, text, where), where
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
    if kind is Table:
        return _check_table(spec, value, where)
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


def _check_table(spec: Spec, value: object, where: str) -> Table:
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where} = {_show(value)}: must be {spec.requirement(Table)}")
    for name, entry in value.items():
        if not (isinstance(name, str) and _ENTRY_NAME.fullmatch(name)):
            raise ConfigError(f"{where}: entry name {_show(name)}: use 1 to 64 {_ENTRY_RULE}")
        check(str, spec, entry, f"{where}.{name}")
    return Table(value)


def _set_entry(
    root: type, values: Values, place: tuple[str, str, str], spec: Spec, text: str, source: str
) -> None:
    section, key, entry = place
    entries = dict(_current(root, values, section, key))
    if text.strip():
        entries.update(_check_table(spec, {entry: text}, f"{source}: {section}.{key}"))
    else:
        entries.pop(entry, None)
    values.setdefault(section, {})[key] = Table(entries)


def _current(root: type, values: Values, section: str, key: str) -> Mapping[str, str]:
    """A table's entries so far: the earlier layers', else the declared default."""
    if key in values.get(section, {}):
        return cast("Table", values[section][key])
    declared = next(f for f in fields(_section_types(root)[section]) if f.name == key)
    return cast("Table", declared.default)


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
    keys: dict[str, tuple[type, Spec]] = {}
    for declared in fields(section):
        spec = declared.metadata.get(_SPEC, Spec())
        keys[declared.name] = (_kind(section, declared.name, hints[declared.name], spec), spec)
    return keys


def _kind(section: type, name: str, hint: Any, spec: Spec) -> type:
    """The type a key's values are checked as; TypeError for a declaration that cannot work."""
    if hint in _KINDS and not spec.table:
        return cast("type", hint)
    if spec.table and get_origin(hint) is Mapping and get_args(hint) == (str, str):
        return Table
    # A programming error in a section's declaration, not a user's config mistake.
    raise TypeError(
        f"{section.__name__}.{name}: {hint!r} is not one of bool, int, float, str, "
        "or a Mapping[str, str] declared with setting(..., table=True)"
    )


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
