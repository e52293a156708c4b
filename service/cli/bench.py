"""``fanout bench``: the benchmark programs of ``bench/``, run by name."""

from __future__ import annotations

import importlib

import click

from service.errors import InvalidInput

__all__ = ["bench"]


@click.command()
@click.argument("what", type=click.Choice(["life", "crypto"]), default="life")
@click.option("--strategies", is_flag=True, help="Measure Life's fan-out strategies instead.")
def bench(what: str, strategies: bool) -> None:
    """Run a benchmark and print its table (the programs of bench/)."""
    if what == "crypto" and strategies:
        raise InvalidInput("--strategies goes with 'fanout bench life' only")
    program = "life_strategies" if strategies else what
    # The one place the product reaches bench/: it runs a program there, by name.
    importlib.import_module(f"bench.{program}").main()
