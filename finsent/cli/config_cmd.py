"""`finsent config check`."""

from __future__ import annotations

import typer
import yaml

from finsent.cli.common import ConfigOption, settings_or_exit

app = typer.Typer(help="Validate and show the configuration.", no_args_is_help=True)


@app.command("check")
def check(config: ConfigOption = None) -> None:
    """Validate the config and print the effective values, secrets masked."""
    settings = settings_or_exit(config)
    typer.echo(yaml.safe_dump(settings.masked(), sort_keys=False), nl=False)
    typer.echo(f"# OK: {config or 'built-in defaults + environment'}", err=True)
