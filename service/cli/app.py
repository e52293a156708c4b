"""The ``fanout`` command: the root group, and errors mapped to one line and an exit code.

Exit codes: 0 ok, 2 bad input or usage, 1 anything else. Errors print one line,
``fanout: error: ...``, never a traceback (set FANOUT_DEBUG=1 to see one for a bug).

Each command lives in a module of its own (``service.cli.life``, ``.crypto``...), imported
only when that command runs, so ``fanout --help`` imports click and nothing of the service,
and ``fanout encrypt`` imports no Life, no daemon and no aiohttp.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Final, NoReturn, final

import click

from service.errors import FanoutError
from service.system.environment import forget_secrets, take_secrets

if TYPE_CHECKING:
    from service.config import Settings

__all__ = ["COMMANDS", "main", "settings_of"]

COMMANDS: Final[Mapping[str, tuple[str, str]]] = {
    "bench": ("service.cli.bench", "Run a benchmark and print its table (the programs of bench/)."),
    "decrypt": ("service.cli.crypto", "Decrypt INPUT into OUTPUT with openssl enc."),
    "encrypt": ("service.cli.crypto", "Encrypt INPUT into OUTPUT with openssl enc."),
    "jobs": (
        "service.cli.jobs",
        "Submit, follow and fetch jobs of a running daemon (token: FANOUT_TOKEN).",
    ),
    "life": (
        "service.cli.life",
        "Step Conway's Life (or any B/S rule) from PATTERN (a file, or - for stdin).",
    ),
    "pipeline": (
        "service.cli.pipeline",
        "Download images, resize them, (encrypt them,) and deliver them to --dest.",
    ),
    "serve": (
        "service.cli.serve",
        "Run the HTTP daemon until SIGTERM or SIGINT, then drain its jobs and stop.",
    ),
}
"""Each command: the module that defines it (as a function of its name) and its one-line help,
which ``fanout --help`` prints without importing the module (a test checks they agree)."""


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


@final
class _Commands(click.Group):
    """The root group, whose commands are imported by name when they are asked for."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module, _ = COMMANDS[cmd_name]
        command = getattr(importlib.import_module(module), cmd_name)
        assert isinstance(command, click.Command), f"{module}.{cmd_name} is not a command"
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, summary) for name, (_, summary) in sorted(COMMANDS.items())])


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
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


def settings_of(
    ctx: click.Context, overrides: Mapping[str, Mapping[str, object]] | None = None
) -> Settings:
    """The settings of this run: ``--config``'s file (or the defaults), then FANOUT_* variables."""
    from service.config import load_settings

    return load_settings(ctx.find_root().obj, overrides=overrides)
