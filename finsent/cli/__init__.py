"""The `finsent` command line.

The root app holds the contract's own commands (config, stack, kafka, es, run); every other
command comes from the ``finsent.commands`` entry points the stage packages declare
(``finsent.registry``). The app is built on first use, so importing ``finsent.cli`` (or any
stage's command module, which imports ``finsent.cli.common``) never imports a stage.
"""

from __future__ import annotations

import functools
from typing import Any

import typer

from finsent.cli.config_cmd import app as config_app
from finsent.cli.run_cmd import run
from finsent.cli.setup_cmd import es_app, kafka_app
from finsent.cli.stack_cmd import app as stack_app
from finsent.registry import command_registrars


@functools.cache
def build_app() -> typer.Typer:
    """The root app with every registered command."""
    root = typer.Typer(
        name="finsent",
        help="Real-time financial sentiment monitoring: feeds -> Kafka -> BERT -> surge alerts.",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=False,
    )
    root.add_typer(config_app, name="config")
    root.add_typer(stack_app, name="stack")
    root.add_typer(kafka_app, name="kafka")
    root.add_typer(es_app, name="es")
    root.command("run")(run)
    for register in command_registrars():
        register(root)
    return root


def __getattr__(name: str) -> Any:
    """``finsent.cli.app``: the built root app (built on first access)."""
    if name == "app":
        return build_app()
    raise AttributeError(name)


def main() -> None:
    """Console-script entry point."""
    build_app()()
