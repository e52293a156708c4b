"""A pipeline of stages joined by bounded streams: download -> resize -> upload, and more.

``run_pipeline`` runs items through :class:`Stage` objects (async, thread or process runners,
with time limits and retries for transient errors) and returns a :class:`Manifest` of every
item's outcome; ``run_pipeline_threads`` does the same on item 55's worker threads and closable
queues (the fallback engine), with the same manifest. Progress comes as :class:`StageCounts`
through a callback.

``Box``, ``FORMATS`` and ``MODES`` (how an image is resized and encoded) and ``Policy`` (which
addresses a download may reach) are the imaging and HTTP adapters' terms, given here so that
the rest of the service names them through the pipeline.
"""

from __future__ import annotations

from adapters.http_io import Policy
from adapters.imaging import FORMATS, MODES, Box
from service.pipeline.engine import bound, run_pipeline
from service.pipeline.manifest import Manifest, Outcome, Progress, StageCounts
from service.pipeline.retry import Retry, is_transient
from service.pipeline.stage import RUNNERS, Runner, Stage
from service.pipeline.threaded import run_pipeline_threads

__all__ = [
    "FORMATS",
    "MODES",
    "RUNNERS",
    "Box",
    "Manifest",
    "Outcome",
    "Policy",
    "Progress",
    "Retry",
    "Runner",
    "Stage",
    "StageCounts",
    "bound",
    "is_transient",
    "run_pipeline",
    "run_pipeline_threads",
]
