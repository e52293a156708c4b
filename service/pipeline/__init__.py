"""A pipeline of stages joined by bounded streams: download -> resize -> upload, and more.

``run_pipeline`` runs items through :class:`Stage` objects (async, thread or process runners,
with time limits and retries for transient errors) and returns a :class:`Manifest` of every
item's outcome; ``run_pipeline_threads`` does the same on item 55's worker threads and closable
queues (the fallback engine), with the same manifest. Progress comes as :class:`StageCounts`
through a callback.
"""

from __future__ import annotations

from service.pipeline.engine import bound, run_pipeline
from service.pipeline.manifest import Manifest, Outcome, Progress, StageCounts
from service.pipeline.retry import Retry, is_transient
from service.pipeline.stage import RUNNERS, Runner, Stage
from service.pipeline.threaded import run_pipeline_threads

__all__ = [
    "RUNNERS",
    "Manifest",
    "Outcome",
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
