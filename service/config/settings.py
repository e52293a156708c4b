"""The daemon's settings: built-in defaults, then config.toml, then FANOUT_* variables.

Each layer overrides the one before, key by key::

    defaults (the dataclasses below, identical to the repository's config.toml)
    < the TOML file given to ``load_settings``
    < environment variables ``FANOUT_<SECTION>__<KEY>``, e.g. ``FANOUT_LIFE__MAX_CELLS=1_000``
    < ``overrides`` from the caller (the CLI's flags)

A table of strings (``[pipeline.destinations]``) is the one key that is not a scalar: each
layer lays its entries over the ones before, and the environment sets one entry at a time,
``FANOUT_<SECTION>__<TABLE>__<NAME>=VALUE`` (the name lowercased, as every part of the
variable's name is), e.g. ``FANOUT_PIPELINE__DESTINATIONS__THUMBS=/srv/thumbs``; an empty
value removes the entry.

Unknown sections and keys are errors in every layer, so a typo never falls back to a default
unnoticed. A section is a frozen dataclass whose fields declare their own constraints with
``setting``; the checking itself is generic (``service.config.schema``).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final, final

from service.config.schema import Values, apply_entry, apply_layer, build, setting
from service.errors import ConfigError

__all__ = [
    "ENGINES",
    "ENV_PREFIX",
    "RUNNERS",
    "CryptoSettings",
    "HttpSettings",
    "JobSettings",
    "LifeSettings",
    "PipelineSettings",
    "Settings",
    "StorageSettings",
    "load_settings",
]

ENV_PREFIX: Final = "FANOUT_"
ENGINES: Final[tuple[str, ...]] = ("auto", "reference", "numpy", "bitpacked")
"""Life engines a job may name; ``auto`` picks the fastest one this build can run."""
RUNNERS: Final[tuple[str, ...]] = ("async", "thread")
"""How openssl children run: on the event loop, or blocking ``Popen`` in worker threads."""


@final
@dataclass(frozen=True, slots=True)
class HttpSettings:
    """Where the HTTP API listens and where its bearer token is kept."""

    host: str = setting("127.0.0.1", nonempty=True)
    port: int = setting(8080, min=0, max=65535)
    token_file: str = setting("")


@final
@dataclass(frozen=True, slots=True)
class StorageSettings:
    """Where the job database and the job artifacts live on disk, and how long a write waits
    for another process's lock on the database."""

    path: str = setting("var/fanout.sqlite3", nonempty=True)
    artifacts_dir: str = setting("var/artifacts", nonempty=True)
    busy_timeout_s: float = setting(5.0, min=0.0, max=600.0)


@final
@dataclass(frozen=True, slots=True)
class JobSettings:
    """How many jobs run (in total and of each kind) and wait at once, how a stop drains them,
    how long results stay."""

    max_running: int = setting(4, min=1, max=1024)
    max_running_life: int = setting(2, min=1, max=1024)
    max_running_encrypt: int = setting(4, min=1, max=1024)
    max_running_decrypt: int = setting(4, min=1, max=1024)
    max_running_pipeline: int = setting(4, min=1, max=1024)
    worker_processes: int = setting(2, min=0, max=64)
    worker_nice: int = setting(10, min=0, max=19)
    max_queued: int = setting(100, min=0, max=1_000_000)
    shutdown_grace_s: float = setting(10.0, min=0.0, max=3600.0)
    retention_s: int = setting(86400, min=60, max=31_536_000)


@final
@dataclass(frozen=True, slots=True)
class LifeSettings:
    """The limits on a Life job, and the engine it uses when it names none."""

    max_cells: int = setting(67_108_864, min=1, max=1_073_741_824)
    max_generations: int = setting(1_000_000, min=1, max=1_000_000_000)
    max_threads: int = setting(256, min=1, max=4096)
    max_workers: int = setting(64, min=1, max=1024)
    default_engine: str = setting("auto", choices=ENGINES)


@final
@dataclass(frozen=True, slots=True)
class CryptoSettings:
    """Settings of encrypt / decrypt jobs (openssl child processes)."""

    openssl: str = setting("")
    runner: str = setting("async", choices=RUNNERS)
    cipher: str = setting("aes-256-cbc", nonempty=True)
    digest: str = setting("sha256", nonempty=True)
    pbkdf2_iterations: int = setting(600_000, min=1_000, max=100_000_000)
    allow_legacy: bool = setting(False)
    timeout_s: float = setting(300.0, min=0.1, max=86_400.0)
    kill_grace_s: float = setting(2.0, min=0.0, max=60.0)
    chunk_bytes: int = setting(1_048_576, min=4_096, max=16_777_216)
    max_payload_bytes: int = setting(1_073_741_824, min=1, max=1_099_511_627_776)


@final
@dataclass(frozen=True, slots=True)
class PipelineSettings:
    """Settings of image pipeline jobs: download -> resize -> (encrypt) -> upload."""

    size: str = setting("256x256", nonempty=True)
    mode: str = setting("fit", choices=("fit", "cover"))
    format: str = setting("webp", choices=("webp", "jpeg", "png"))
    quality: int = setting(82, min=1, max=100)
    max_pixels: int = setting(50_000_000, min=1, max=1_000_000_000)
    max_download_bytes: int = setting(52_428_800, min=1, max=1_073_741_824)
    connect_timeout_s: float = setting(10.0, min=0.1, max=600.0)
    read_timeout_s: float = setting(30.0, min=0.1, max=3600.0)
    max_redirects: int = setting(5, min=0, max=20)
    allow_hosts: str = setting("")
    allow_private: bool = setting(False)
    allow_files: bool = setting(True)
    allowed_sources: str = setting("")
    download_workers: int = setting(16, min=1, max=1024)
    resize_workers: int = setting(0, min=0, max=256)
    resize_runner: str = setting("thread", choices=("thread", "process"))
    upload_workers: int = setting(16, min=1, max=1024)
    buffer: int = setting(16, min=1, max=10_000)
    attempts: int = setting(3, min=1, max=20)
    backoff_base_s: float = setting(0.2, min=0.0, max=60.0)
    backoff_max_s: float = setting(5.0, min=0.0, max=600.0)
    stage_timeout_s: float = setting(60.0, min=0.1, max=3600.0)
    destinations: Mapping[str, str] = setting({}, nonempty=True, table=True)


@final
@dataclass(frozen=True, slots=True)
class Settings:
    """Every setting of the daemon, one frozen section per ``[table]`` of config.toml."""

    http: HttpSettings = field(default_factory=HttpSettings)
    storage: StorageSettings = field(default_factory=StorageSettings)
    jobs: JobSettings = field(default_factory=JobSettings)
    life: LifeSettings = field(default_factory=LifeSettings)
    crypto: CryptoSettings = field(default_factory=CryptoSettings)
    pipeline: PipelineSettings = field(default_factory=PipelineSettings)


def load_settings(
    path: str | os.PathLike[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Mapping[str, object]] | None = None,
) -> Settings:
    """The settings from the defaults, then ``path``, ``environ`` and ``overrides``, all checked.

    ``environ`` defaults to ``os.environ``. Raises ConfigError naming the file or variable,
    the key, the value and what is allowed.
    """
    values: Values = {}
    if path is not None:
        apply_layer(Settings, values, _read_toml(path), os.fspath(path))
    _apply_environ(values, os.environ if environ is None else environ)
    apply_layer(Settings, values, overrides or {}, "override")
    return build(Settings, values)


def _read_toml(path: str | os.PathLike[str]) -> dict[str, object]:
    name = os.fspath(path)
    try:
        with open(path, "rb") as stream:
            return tomllib.load(stream)
    except FileNotFoundError:
        raise ConfigError(f"{name}: config file not found") from None
    except OSError as exc:
        raise ConfigError(f"{name}: cannot read config file: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{name}: not UTF-8 text: {exc.reason} at byte {exc.start}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{name}: invalid TOML: {exc}") from exc


def _apply_environ(values: Values, environ: Mapping[str, str]) -> None:
    # Only FANOUT_<SECTION>__<KEY> names settings: FANOUT_TOKEN, FANOUT_PASSWORD and the like
    # carry secrets for other parts of the service and are none of this module's business.
    # What follows the section may be KEY or, for a table, KEY__NAME (see apply_entry).
    for name, text in sorted(environ.items()):
        if not name.startswith(ENV_PREFIX) or "__" not in name:
            continue
        section, _, key = name[len(ENV_PREFIX) :].lower().partition("__")
        apply_entry(Settings, values, section, key, text, f"environment variable {name}")
