"""`finsent kafka setup` and `finsent es setup`: idempotent creation of topics and templates."""

from __future__ import annotations

import typer

from finsent.cli.common import ConfigOption, settings_or_exit
from finsent.es import install_templates, make_client
from finsent.kafka import ensure_topics

kafka_app = typer.Typer(help="Kafka administration.", no_args_is_help=True)
es_app = typer.Typer(help="Elasticsearch administration.", no_args_is_help=True)


@kafka_app.command("setup")
def kafka_setup(config: ConfigOption = None) -> None:
    """Create the finsent topics that do not exist yet."""
    settings = settings_or_exit(config)
    created = ensure_topics(settings.kafka)
    typer.echo(f"topics created: {', '.join(created) or 'none (all exist)'}")


@es_app.command("setup")
def es_setup(config: ConfigOption = None) -> None:
    """Install (or update) the finsent index templates."""
    settings = settings_or_exit(config)
    client = make_client(settings.elasticsearch)
    names = install_templates(client, settings.elasticsearch.index_prefix)
    typer.echo(f"index templates installed: {', '.join(names)}")
