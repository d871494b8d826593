"""Options and error handling shared by the sub-commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, NoReturn

import typer

from finsent.config import ConfigError, Settings, load_settings

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config", "-c", help="YAML config file (default: $FINSENT_CONFIG, else built-in)."
    ),
]


def fail(message: str, code: int = 1) -> NoReturn:
    """Print one clear error line (no traceback) and exit non-zero."""
    typer.echo(f"finsent: {message}", err=True)
    raise typer.Exit(code)


def settings_or_exit(path: Path | None) -> Settings:
    """Load the configuration or exit 2 with the message naming each bad field."""
    try:
        return load_settings(path)
    except ConfigError as exc:
        fail(str(exc), code=2)
