"""A submission checked before it becomes a job: its kind, its parameters, its secret.

Parameters are converted to the kind's ``msgspec.Struct`` (strictly: ``"3"`` is not an int);
a ``ValidationError`` becomes ``BadParam`` whose ``field`` is the parameter's path, e.g.
``params.items[0].size``. A kind with ``secret_fields`` needs a secret, given either as the
``secret`` argument or in one of those fields; it becomes a ``Password`` here and leaves the
parameters before they are converted, so neither the kind's struct nor the parameters kept
with the job ever hold it, nor its ``payload_fields`` (the job's input data).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, final

import msgspec

from service.config import Settings
from service.crypto import BadPassword, Password
from service.errors import BadParam
from service.jobs.kind import Kind

__all__ = ["Submission", "check_submission", "revive_params"]

_WHERE: Final = re.compile(r"(?P<problem>.*?)(?: - at `\$(?P<path>[^`]*)`)?")
_NAMED: Final = re.compile(r"Object (?:missing required|contains unknown) field `(?P<name>[^`]+)`")
_STEP: Final = re.compile(r"\.([^.\[]+)|\[(\d+)\]")
_MISSING: Final = object()


@final
@dataclass(frozen=True, slots=True)
class Submission:
    """A checked submission: what runs (``params``, ``secret``) and what is kept (``stored``).

    ``held_back``: the job needs something the store never sees (its secret, its payload), so
    it cannot run again after a restart.
    """

    kind: Kind
    params: msgspec.Struct = field(repr=False)
    stored: dict[str, Any]
    secret: Password | None = field(default=None, repr=False)
    held_back: bool = False
    request: object | None = field(default=None, repr=False)
    """What the kind's ``admit`` made of ``params``, once it has run."""


def check_submission(
    kinds: Mapping[str, Kind],
    name: str,
    params: Mapping[str, Any],
    *,
    secret: Password | str | None,
    settings: Settings,
) -> Submission:
    """Check a submission; BadParam (or the kind's own InvalidInput) names what is wrong."""
    kind = kinds.get(name)
    if kind is None:
        choices = ", ".join(sorted(kinds)) or "none configured"
        raise BadParam(f"unknown job kind {name!r}: choose one of {choices}", field="kind")
    if not isinstance(params, Mapping):
        raise BadParam(f"params must be an object, got {type(params).__name__}", field="params")
    data = dict(params)
    secret = _take_secret(kind, data, secret)
    parsed = _convert(data, kind)
    kind.check(parsed, settings)
    stored = msgspec.to_builtins(parsed)
    for name_ in kind.secret_fields:  # a field the struct declares (for the schema), always None
        stored.pop(name_, None)
    payloads = [stored.pop(name_, None) for name_ in kind.payload_fields]
    held_back = bool(kind.secret_fields) or any(value is not None for value in payloads)
    return Submission(kind, parsed, stored, secret, held_back)


def revive_params(kind: Kind, stored: Mapping[str, Any]) -> msgspec.Struct:
    """The parameters of a job kept in the store, converted back for a new run."""
    return _convert(dict(stored), kind)


def _take_secret(
    kind: Kind, data: dict[str, Any], secret: Password | str | None
) -> Password | None:
    """The job's password, as a ``Password``; every secret field leaves ``data`` here."""
    given = [data.pop(name) for name in kind.secret_fields if name in data]
    if not kind.secret_fields:
        if secret is not None:
            raise BadParam(f"a {kind.name} job takes no password", field="password")
        return None
    field_ = f"params.{kind.secret_fields[0]}"
    if secret is not None and any(value is not None for value in given):
        raise BadParam(f"give the password as {field_} or apart from it, not both", field=field_)
    if secret is None:
        secret = next((value for value in given if value is not None), None)
    if isinstance(secret, Password):
        return secret
    if not isinstance(secret, str) or not secret:
        raise BadParam(
            f"the {kind.name} job needs a password (a non-empty string)", field="password"
        )
    try:
        return Password(secret)
    except BadPassword as exc:
        raise BadParam(f"{field_}: {exc}", field=field_) from exc


def _convert(data: dict[str, Any], kind: Kind) -> msgspec.Struct:
    try:
        return msgspec.convert(data, kind.params)
    except msgspec.ValidationError as exc:
        field_, problem = _locate(str(exc))
        top = _STEP.match(field_.removeprefix("params"))
        hidden = top is None or top[1] in kind.secret_fields
        value = "" if hidden else _show(_lookup(data, field_))
        raise BadParam(f"{field_}{value}: {problem}", field=field_) from None


def _locate(message: str) -> tuple[str, str]:
    where = _WHERE.fullmatch(message)
    problem, path = (where["problem"], where["path"] or "") if where else (message, "")
    named = _NAMED.fullmatch(problem)
    if named:
        path += f".{named['name']}"
    return f"params{path}", problem[:1].lower() + problem[1:]


def _lookup(data: object, field_: str) -> object:
    for name, index in _STEP.findall(field_.removeprefix("params")):
        if name and isinstance(data, Mapping) and name in data:
            data = data[name]
        elif index and isinstance(data, list) and int(index) < len(data):
            data = data[int(index)]
        else:
            return _MISSING
    return data


def _show(value: object) -> str:
    if value is _MISSING:
        return ""
    text = repr(value)
    return f" = {text if len(text) <= 60 else text[:57] + '...'}"
