"""The daemon's settings: defaults < config.toml < FANOUT_* variables < the caller's overrides.

settings    the sections (``Settings``, ``LifeSettings``...) and ``load_settings``
schema      the generic checking every section's fields declare with ``setting``
"""

from __future__ import annotations

from service.config.settings import (
    ENGINES,
    ENV_PREFIX,
    RUNNERS,
    CryptoSettings,
    HttpSettings,
    JobSettings,
    LifeSettings,
    PipelineSettings,
    Settings,
    StorageSettings,
    load_settings,
)

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
