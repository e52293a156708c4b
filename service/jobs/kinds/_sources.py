"""Which URLs a pipeline job may download: those under a prefix of ``[pipeline] allowed_sources``.

A job comes from a network client, so its sources are judged before anything is fetched:

- only http and https; a ``file://`` URL or a plain path is never read for a job, whatever
  ``[pipeline] allow_files`` says (that key is for the command line);
- the URL must start with an allowed prefix, compared as written. A prefix that is only
  ``scheme://host[:port]`` stands for ``scheme://host[:port]/``, or
  ``https://images.example.com`` would let in ``https://images.example.com.evil.example/``;
- no ``.`` or ``..`` path segments (``%2e`` too), backslashes, spaces or control characters:
  the URL fetched would not be the URL that was checked (``/public/../private/x``).

Redirects are not judged here: :mod:`service.jobs.kinds.pipeline` limits the client's hosts.
"""

from __future__ import annotations

from typing import Final
from urllib.parse import unquote, urlsplit

from service.errors import BadParam, ConfigError
from service.pipeline import Policy

__all__ = ["allowed_prefixes", "check_source", "host_of"]

_WEB: Final = ("http://", "https://")
_SHOWN: Final = 120


def allowed_prefixes(setting: str) -> tuple[str, ...]:
    """The prefixes in ``[pipeline] allowed_sources``; ConfigError naming a wrong one."""
    prefixes: list[str] = []
    for part in setting.split(","):
        prefix = part.strip()
        if not prefix:
            continue
        if not prefix.startswith(_WEB) or _unsafe(prefix):
            raise ConfigError(
                f"[pipeline] allowed_sources: {prefix!r} is not an http(s) URL prefix such as "
                "'https://images.example.com/photos/'"
            )
        host_of(prefix)  # a host the HTTP client's policy can hold, or a ConfigError now
        prefixes.append(prefix if urlsplit(prefix).path else prefix + "/")
    return tuple(prefixes)


def host_of(url: str) -> str:
    """The lowercase host of an http(s) URL, as the client's ``allow_hosts`` spells it."""
    host = (urlsplit(url).hostname or "").removesuffix(".")
    try:
        Policy(allow_hosts=frozenset({host}))
    except ValueError as exc:
        raise ConfigError(f"{url!r}: {exc} (an IDN host goes in its xn-- form)") from exc
    return host


def check_source(index: int, source: str, prefixes: tuple[str, ...]) -> None:
    """BadParam on ``params.sources[index]`` unless ``source`` may be downloaded by a job."""
    field = f"params.sources[{index}]"
    shown = _clip(source)
    allowed = ", ".join(map(repr, prefixes))
    if not source.startswith(_WEB):
        scheme, colon, _ = source.partition("://")
        what = (
            f"the scheme {scheme!r} is not allowed"
            if colon and scheme.lower() != "file"
            else "local files are never read for a job"
        )
        raise BadParam(f"{field} = {shown}: {what}: give an http(s) URL", field=field)
    if problem := _unsafe(source):
        raise BadParam(f"{field} = {shown}: {problem}: write the URL plainly", field=field)
    if not source.startswith(prefixes):
        raise BadParam(
            f"{field} = {shown}: not under an allowed prefix: sources must start with {allowed} "
            "([pipeline] allowed_sources)",
            field=field,
        )


def _unsafe(url: str) -> str | None:
    """What makes ``url`` fetch something other than what its text says, if anything."""
    if any(ord(char) <= 0x20 or ord(char) == 0x7F for char in url):
        return "it holds a space or a control character"
    if "\\" in url:
        return "it holds a backslash"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - parsed on access: 'host:99999' or 'host:x' raise here
    except ValueError as exc:
        return f"it is not a well-formed URL ({exc})"
    if not parts.hostname:
        return "it names no host"
    segments = unquote(parts.path).split("/")
    if any(segment in (".", "..") for segment in segments):
        return "its path holds a '.' or '..' segment"
    return None


def _clip(text: str) -> str:
    shown = repr(text)
    return shown if len(shown) <= _SHOWN else shown[: _SHOWN - 4] + "...'"
