"""The kinds of job the daemon runs, one module each, over the same libraries as the CLI.

=========  ==============================  ===============================  ==================
kind       parameters                      artifact (media type)            payload (body)
=========  ==============================  ===============================  ==================
life       :class:`LifeParams`             final generation: RLE            no
                                           (``text/plain; charset=utf-8``)
                                           or PNG (``image/png``)
encrypt    :class:`CryptoParams`           ciphertext                       yes, or base64
                                           (``application/octet-stream``)   ``params.data``
decrypt    :class:`CryptoParams`           plaintext                        yes, or base64
                                           (``application/octet-stream``)   ``params.data``
pipeline   :class:`PipelineParams`         manifest (``application/json``)  no
=========  ==============================  ===============================  ==================

:data:`KINDS` maps each name to its :class:`~service.jobs.kind.Kind`.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from service.jobs.kind import Kind
from service.jobs.kinds.crypto import CryptoParams, DecryptKind, EncryptKind
from service.jobs.kinds.life import LifeKind, LifeParams
from service.jobs.kinds.pipeline import PipelineKind, PipelineParams

__all__ = [
    "KINDS",
    "CryptoParams",
    "DecryptKind",
    "EncryptKind",
    "LifeKind",
    "LifeParams",
    "PipelineKind",
    "PipelineParams",
]

_ALL: Final[tuple[Kind, ...]] = (LifeKind(), EncryptKind(), DecryptKind(), PipelineKind())
KINDS: Final[Mapping[str, Kind]] = MappingProxyType({kind.name: kind for kind in _ALL})
"""Every kind of job by name, in the order of :data:`service.jobs.model.KINDS`."""
