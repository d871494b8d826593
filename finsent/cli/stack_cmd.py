"""`finsent stack up|down|status`."""

from __future__ import annotations

import typer

from finsent.cli.common import ConfigOption, fail, settings_or_exit
from finsent.logs import configure
from finsent.stack.manager import Stack, StackError

app = typer.Typer(help="The local Kafka + Elasticsearch on loopback.", no_args_is_help=True)


def _stack(config: ConfigOption) -> Stack:
    settings = settings_or_exit(config)
    configure(settings.logging)
    return Stack(settings, say=lambda line: typer.echo(line, err=True))


@app.command("up")
def up(config: ConfigOption = None) -> None:
    """Start (if needed) and wait until every local server is healthy."""
    try:
        statuses = _stack(config).up()
    except StackError as exc:
        fail(str(exc))
    for status in statuses:
        typer.echo(status.render())


@app.command("down")
def down(config: ConfigOption = None) -> None:
    """Stop the local servers cleanly."""
    if not _stack(config).down():
        fail("a server had to be killed after stack.shutdown_timeout_s")


@app.command("status")
def status(config: ConfigOption = None) -> None:
    """Report each server; exit 1 unless all are healthy."""
    statuses = _stack(config).status()
    for line in statuses:
        typer.echo(line.render())
    if not all(s.healthy for s in statuses):
        raise typer.Exit(1)
