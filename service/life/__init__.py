"""Conway's Life and every B/S Life-like rule: patterns, engines, fan-out strategies, runs.

The library surface: load a pattern, run it, look at the result::

    pattern = load_pattern("glider.rle")
    result = run_life(pattern, 100, limits=LifeSettings(), strategy="threadpool")
    print(result.summary())
"""

from __future__ import annotations

from service.life.engines import ENGINE_NAMES
from service.life.fanout import Chunking
from service.life.formats import (
    bundled_pattern_path,
    format_pattern,
    load_pattern,
    read_pattern,
    write_pattern,
)
from service.life.pattern import Pattern
from service.life.render import GifFrames, png_bytes, render_gif, render_png
from service.life.rules import CONWAY, Rule, parse_rule
from service.life.run import (
    LifePlan,
    LifeResult,
    resolve_topology,
    run_life,
    run_life_async,
    settle_life,
    step_plan,
    step_plan_blocking,
)
from service.life.soup import Soup, parse_soup
from service.life.strategies import STRATEGY_NAMES
from service.life.topology import Topology, parse_size

__all__ = [
    "CONWAY",
    "ENGINE_NAMES",
    "STRATEGY_NAMES",
    "Chunking",
    "GifFrames",
    "LifePlan",
    "LifeResult",
    "Pattern",
    "Rule",
    "Soup",
    "Topology",
    "bundled_pattern_path",
    "format_pattern",
    "load_pattern",
    "parse_rule",
    "parse_size",
    "parse_soup",
    "png_bytes",
    "read_pattern",
    "render_gif",
    "render_png",
    "resolve_topology",
    "run_life",
    "run_life_async",
    "settle_life",
    "step_plan",
    "step_plan_blocking",
    "write_pattern",
]
