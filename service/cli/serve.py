"""``fanout serve``: the daemon, on the config's address or --host and --port."""

from __future__ import annotations

import click

from service.cli.app import settings_of

__all__ = ["serve"]


@click.command()
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
    settings = settings_of(ctx, overrides={"http": overrides})
    run(settings, token=load_token(settings.http))
