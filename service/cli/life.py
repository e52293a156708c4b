"""``fanout life``: a pattern file or a random soup stepped, written, drawn and reported.

The command holds no Life of its own: it reads the pattern (or makes the soup), settles the
rule and the grid, calls :func:`service.life.run.run_life` with a progress bar on a terminal,
and writes the result as RLE, plaintext, PNG or an animated GIF.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from service.cli.app import settings_of
from service.config import LifeSettings
from service.errors import InvalidInput, LimitExceeded
from service.life.engines import ENGINE_NAMES
from service.life.fanout import Chunking
from service.life.formats import format_pattern, load_pattern, read_stream, write_pattern
from service.life.pattern import Pattern
from service.life.render import MAX_GIF_FRAMES, GifFrames, render_png
from service.life.rules import Rule, parse_rule
from service.life.run import LifeResult, resolve_topology, run_life
from service.life.soup import parse_soup
from service.life.strategies import STRATEGY_NAMES
from service.life.topology import KINDS, parse_size
from service.life.universe import Progress

__all__ = ["life"]

_OUTPUTS = (".rle", ".cells", ".png", ".gif")


@click.command()
@click.argument("pattern", required=False)
@click.option("-g", "--generations", type=int, default=0, show_default=True, help="Generations.")
@click.option("--random", "soup", metavar="WxH[:DENSITY[:SEED]]", help="A random soup.")
@click.option("--rule", default=None, help="B/S rule, e.g. B3/S23 or B36/S23:T64,64.")
@click.option("--topology", type=click.Choice(KINDS), default=None, help="Default: the file's.")
@click.option(
    "--size",
    default=None,
    metavar="WxH",
    help="Size of a torus or plane; alone, the rule's or file's bounded kind, else a torus.",
)
@click.option("--engine", type=click.Choice(ENGINE_NAMES), default=None, help="Default: config.")
@click.option(
    "--strategy",
    type=click.Choice(STRATEGY_NAMES),
    default="auto",
    show_default=True,
    help="How chunks are fanned out.",
)
@click.option("--workers", type=click.IntRange(1), default=None, help="Default: the core count.")
@click.option(
    "--chunk",
    type=click.Choice(["cell", "rows"]),
    default="rows",
    show_default=True,
    help="Single cells (the book's setting; reference engine) or bands of rows.",
)
@click.option("--chunk-rows", type=click.IntRange(1), default=None, help="Rows per band.")
@click.option("-o", "--output", default=None, help="OUT.rle|.cells|.png|.gif, or - for RLE.")
@click.option("--every", type=click.IntRange(1), default=1, show_default=True, help="GIF step.")
@click.option("--cell-size", type=click.IntRange(1, 64), default=4, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_context
def life(ctx: click.Context, /, **options: Any) -> None:
    """Step Conway's Life (or any B/S rule) from PATTERN (a file, or - for stdin)."""
    limits = settings_of(ctx).life
    pattern, seed = _source(options["pattern"], options["soup"], limits)
    rule, rule_topology = _rule(options["rule"])
    size = parse_size(options["size"]) if options["size"] else None
    topology = resolve_topology(
        options["topology"], size, rule_topology=rule_topology, pattern=pattern
    )
    output = options["output"]
    gif = _animation(output, options["generations"], options["every"])
    with _progress_bar(options["generations"], enabled=not options["as_json"]) as progress:
        result = run_life(
            pattern,
            options["generations"],
            limits=limits,
            rule=rule,
            topology=topology,
            engine=options["engine"] or limits.default_engine,
            strategy=options["strategy"],
            workers=options["workers"],
            chunking=_chunking(options),
            progress=progress,
            every=options["every"] if gif is not None else 0,
            snapshot=(lambda _g, p: gif.add(p.cells)) if gif is not None else None,
        )
    _write_output(result, output, gif, cell_size=options["cell_size"])
    _report(result, seed, as_json=options["as_json"], to_stdout=output != "-")


def _source(path: str | None, soup: str | None, limits: LifeSettings) -> tuple[Pattern, int | None]:
    if (path is None) == (soup is None):
        raise InvalidInput("give a PATTERN file (or - for stdin), or --random WxH, but not both")
    if soup is not None:
        recipe = parse_soup(soup)
        return recipe.pattern(max_cells=limits.max_cells), recipe.seed
    assert path is not None
    if path == "-":
        return read_stream(sys.stdin.buffer, source="<stdin>", max_cells=limits.max_cells), None
    return load_pattern(path, max_cells=limits.max_cells), None


def _chunking(options: dict[str, Any]) -> Chunking:
    if options["chunk"] == "cell" and options["chunk_rows"] is not None:
        raise InvalidInput("choose --chunk cell or --chunk-rows N, not both")
    return Chunking(cells=options["chunk"] == "cell", rows=options["chunk_rows"])


def _rule(text: str | None) -> tuple[Rule | None, Any]:
    return (None, None) if text is None else parse_rule(text)


def _is_gif(output: str | None) -> bool:
    return output is not None and output.lower().endswith(".gif")


def _animation(output: str | None, generations: int, every: int) -> GifFrames | None:
    """Frames for a GIF output, refused up front when the run would make too many."""
    if not _is_gif(output):
        return None
    frames = generations // every + 1 + (generations % every > 0)
    if frames > MAX_GIF_FRAMES:
        raise LimitExceeded(
            f"-g {generations} --every {every} makes {frames} frames; an animation holds at "
            f"most {MAX_GIF_FRAMES}: use --every {-(-generations // (MAX_GIF_FRAMES - 2))} or more"
        )
    return GifFrames()


def _write_output(
    result: LifeResult, output: str | None, gif: GifFrames | None, *, cell_size: int
) -> None:
    if output is None:
        return
    if output == "-":
        click.echo(format_pattern(_for_file(result), "rle"), nl=False)
        return
    suffix = Path(output).suffix.lower()
    if suffix not in _OUTPUTS:
        raise InvalidInput(f"output {output!r}: the name must end in {', '.join(_OUTPUTS)}")
    if suffix == ".png":
        render_png(result.pattern.cells, output, cell_size=cell_size)
    elif suffix == ".gif":
        assert gif is not None
        gif.write(output, cell_size=cell_size)
    else:
        write_pattern(_for_file(result), output)


def _for_file(result: LifeResult) -> Pattern:
    """Bounded grids are written whole (so they read back in place); infinite ones trimmed."""
    return result.pattern if result.topology.bounded else result.pattern.trimmed()


def _report(result: LifeResult, seed: int | None, *, as_json: bool, to_stdout: bool) -> None:
    summary = result.summary()
    if seed is not None:
        summary["seed"] = seed
    if as_json:
        click.echo(json.dumps(summary), err=not to_stdout)
        return
    lines = [f"{key}: {value}" for key, value in summary.items()]
    click.echo("\n".join(lines), err=not to_stdout)


@contextmanager
def _progress_bar(total: int, *, enabled: bool) -> Iterator[Progress | None]:
    """A rich progress bar on a terminal's stderr; nothing otherwise."""
    if not (enabled and sys.stderr.isatty()):
        yield None
        return
    from rich.progress import BarColumn, TextColumn, TimeRemainingColumn
    from rich.progress import Progress as Bar

    with Bar(
        TextColumn("generation {task.completed}/{task.total}"),
        BarColumn(),
        TimeRemainingColumn(),
        transient=True,
        console=None,
    ) as bar:
        task = bar.add_task("life", total=total)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update
