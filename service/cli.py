"""The ``fanout`` command: parses, calls the library, draws progress, maps errors to exit codes.

Exit codes: 0 ok, 2 bad input or usage, 1 anything else. Errors print one line,
``fanout: error: ...``, never a traceback (set FANOUT_DEBUG=1 to see one for a bug).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import click

from service._cli_crypto import CryptoRequest, crypto_options, run_crypto
from service._cli_jobs import (
    Daemon,
    cancel_job,
    default_url,
    get_job,
    job_result,
    parse_params,
    read_password,
    submit_job,
    wait_job,
)
from service._cli_pipeline import PipelineRequest, pipeline_options, run_image_pipeline
from service.config import LifeSettings, Settings, load_settings
from service.environment import forget_secrets, take_secrets
from service.errors import FanoutError, InvalidInput, LimitExceeded
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

__all__ = ["main"]

_OUTPUTS = (".rle", ".cells", ".png", ".gif")


def main(argv: list[str] | None = None) -> NoReturn:
    """Entry point of the console script and of ``python -m service``.

    A command that returns an int has it as the exit status (``pipeline``: 1 if an image failed).
    """
    # Before anything can start a child: no child inherits FANOUT_PASSWORD or FANOUT_TOKEN.
    take_secrets()
    try:
        _run(argv)
    finally:
        forget_secrets()


def _run(argv: list[str] | None) -> NoReturn:
    try:
        status = cli.main(args=argv, prog_name="fanout", standalone_mode=False)
    except click.exceptions.Exit as done:
        sys.exit(done.exit_code)
    except click.Abort:
        _fail("interrupted", 130)
    except click.UsageError as exc:
        command = exc.ctx.command_path if exc.ctx is not None else "fanout"
        _fail(f"{exc.format_message()} (see '{command} --help')", 2)
    except click.ClickException as exc:
        _fail(exc.format_message(), exc.exit_code)
    except FanoutError as exc:
        _fail(str(exc), exc.exit_code)
    except KeyboardInterrupt:
        _fail("interrupted", 130)
    except Exception as exc:
        if os.environ.get("FANOUT_DEBUG"):
            raise
        _fail(f"internal error ({type(exc).__name__}): {exc}; set FANOUT_DEBUG=1 for details", 1)
    # Without standalone mode click returns the command's value (or an Exit's code) here.
    sys.exit(status if isinstance(status, int) else 0)


def _fail(message: str, code: int) -> NoReturn:
    click.echo(f"fanout: error: {message}", err=True)
    sys.exit(code)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="A config.toml (default: built-in defaults; FANOUT_* variables apply either way).",
)
@click.pass_context
def cli(ctx: click.Context, config_path: str | None) -> None:
    """fanout-service: crypto, image pipelines and Life, fanned out."""
    ctx.obj = config_path


def _settings(ctx: click.Context) -> Settings:
    path = ctx.find_root().obj
    return load_settings(path)


@cli.command()
@click.option("--host", default=None, help="Address to listen on (default: [http] host).")
@click.option(
    "--port", type=click.IntRange(0, 65535), default=None, help="Port (default: [http] port)."
)
@click.pass_context
def serve(ctx: click.Context, host: str | None, port: int | None) -> None:
    """Run the HTTP daemon until SIGTERM or SIGINT, then drain its jobs and stop.

    The API is open on loopback; on any other address it needs a token: FANOUT_TOKEN, else
    the first line of [http] token_file. With a token, /v1 and /metrics require
    'Authorization: Bearer <token>'. Refuses to start (exit 2) on 0.0.0.0 without a token, on
    a taken port, or when the job store cannot be opened.
    """
    from service.api import load_token
    from service.daemon import run

    overrides = {key: value for key, value in (("host", host), ("port", port)) if value is not None}
    settings = load_settings(ctx.find_root().obj, overrides={"http": overrides})
    run(settings, token=load_token(settings.http))


@cli.group()
@click.option("--url", default=None, help="The daemon (default: http://[http] host:port).")
@click.option("--token-file", metavar="FILE", help="The API token (else FANOUT_TOKEN).")
@click.pass_context
def jobs(ctx: click.Context, url: str | None, token_file: str | None) -> None:
    """Submit, follow and fetch jobs of a running daemon (token: FANOUT_TOKEN)."""
    ctx.obj = Daemon.given(url or default_url(_settings(ctx).http), token_file)


@jobs.command("submit")
@click.argument("kind")
@click.option("--params", "params", default="{}", metavar="JSON|@FILE", help="The parameters.")
@click.option("--password-file", metavar="FILE", help="The password (else FANOUT_PASSWORD).")
@click.option("--wait", is_flag=True, help="Wait until the job ends; exit 1 unless it succeeded.")
@click.pass_obj
def jobs_submit(
    daemon: Daemon, kind: str, params: str, password_file: str | None, wait: bool
) -> int:
    """Submit a KIND job (life, encrypt, decrypt, pipeline); print it as JSON."""
    password = read_password(password_file)
    if kind in ("encrypt", "decrypt") and password is None:
        raise InvalidInput(
            f"a {kind} job needs a password: use --password-file FILE or set FANOUT_PASSWORD"
        )
    return submit_job(daemon, kind, parse_params(params), password=password, wait=wait)


@jobs.command("get")
@click.argument("job_id", metavar="ID")
@click.pass_obj
def jobs_get(daemon: Daemon, job_id: str) -> int:
    """Print a job as JSON."""
    return get_job(daemon, job_id)


@jobs.command("wait")
@click.argument("job_id", metavar="ID")
@click.option("--timeout", "timeout_s", type=click.FloatRange(0, min_open=True), default=None)
@click.pass_obj
def jobs_wait(daemon: Daemon, job_id: str, timeout_s: float | None) -> int:
    """Wait until a job ends; print it; exit 1 unless it succeeded."""
    return wait_job(daemon, job_id, timeout_s=timeout_s)


@jobs.command("cancel")
@click.argument("job_id", metavar="ID")
@click.pass_obj
def jobs_cancel(daemon: Daemon, job_id: str) -> int:
    """Cancel a queued or running job; print it."""
    return cancel_job(daemon, job_id)


@jobs.command("result")
@click.argument("job_id", metavar="ID")
@click.option("-o", "--output", required=True, metavar="FILE|-", help="Where to write it.")
@click.pass_obj
def jobs_result(daemon: Daemon, job_id: str, output: str) -> None:
    """Write a finished job's artifact to FILE (- for stdout)."""
    job_result(daemon, job_id, output)


@cli.command()
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
    limits = _settings(ctx).life
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


@cli.command()
@crypto_options
@click.pass_context
def encrypt(ctx: click.Context, /, **options: Any) -> None:
    """Encrypt INPUT into OUTPUT with openssl enc.

    INPUT and OUTPUT are files, or - for stdin and stdout. The key is derived by PBKDF2, so
    `openssl enc -d -pbkdf2 -iter N` decrypts the result too. The password comes from
    --password-file, else FANOUT_PASSWORD, else a prompt on a terminal; never from the command
    line. Prints the digest of the ciphertext, which decrypt reports again.
    """
    run_crypto(CryptoRequest("encrypt", **options), _settings(ctx).crypto)


@cli.command()
@crypto_options
@click.pass_context
def decrypt(ctx: click.Context, /, **options: Any) -> None:
    """Decrypt INPUT into OUTPUT with openssl enc.

    INPUT and OUTPUT are files, or - for stdin and stdout; give the --cipher and --iterations
    the ciphertext was made with. The password comes from --password-file, else
    FANOUT_PASSWORD, else a prompt on a terminal; never from the command line. Prints the
    digest of the ciphertext read, to compare with the one encrypt printed.
    """
    run_crypto(CryptoRequest("decrypt", **options), _settings(ctx).crypto)


@cli.command()
@pipeline_options
@click.pass_context
def pipeline(ctx: click.Context, /, **options: Any) -> int:
    """Download images, resize them, (encrypt them,) and deliver them to --dest.

    SOURCES is a file with one http(s) URL or local path a line (blank lines and lines
    starting with # are skipped), or - for stdin. Each image is resized into --size, encoded
    as --format, and written into the directory --dest (atomically) or PUT under the base URL
    --dest, named after its source. With --encrypt each image is also encrypted as `fanout
    encrypt` would, and its name ends in .enc (e.g. photo-1a2b3c4d5e.webp.enc); the password
    comes from --password-file, else FANOUT_PASSWORD, else a prompt on a terminal.

    Options default to the [pipeline] settings of the config (or FANOUT_PIPELINE__<KEY>).
    Downloads are guarded against SSRF: loopback, private and link-local addresses are
    refused unless [pipeline] allow_private is true (it is false by default), e.g.
    FANOUT_PIPELINE__ALLOW_PRIVATE=true for a server on this machine; local paths need
    [pipeline] allow_files (true by default).

    Prints a summary and one FAILED line per image that failed (or, with --json, the whole
    manifest on stdout). Exit status: 0 when every image was delivered, 1 when any failed,
    2 for bad usage.
    """
    return run_image_pipeline(PipelineRequest(**options), _settings(ctx))


@cli.command()
@click.argument("what", type=click.Choice(["life", "crypto"]), default="life")
@click.option("--strategies", is_flag=True, help="Measure Life's fan-out strategies instead.")
def bench(what: str, strategies: bool) -> None:
    """Run a benchmark and print its table (see bench/)."""
    if what == "crypto":
        if strategies:
            raise InvalidInput("--strategies goes with 'fanout bench life' only")
        from service.crypto.bench import main as run
    elif strategies:
        from service.life.bench_strategies import main as run
    else:
        from service.life.bench import main as run
    run()
