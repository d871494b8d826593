"""`finsent ingest` and `finsent replay`."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from finsent.cli.common import ConfigOption, settings_or_exit
from finsent.config_sources import ReplaySourceConfig
from finsent.logs import configure, get_logger
from finsent.signals import stop_on_signals


def ingest(
    config: ConfigOption = None,
    once: Annotated[bool, typer.Option("--once", help="Poll every source once and exit.")] = False,
) -> None:
    """Run the ingest stage: poll the configured sources and produce new items to Kafka."""
    from ingest.scheduler import IngestScheduler
    from ingest.service import Ingestor

    settings = settings_or_exit(config)
    configure(settings.logging)
    log = get_logger("ingest")
    ingestor = Ingestor(settings)
    ingestor.setup()
    try:
        if once:
            runs = ingestor.poll_all()
            for run in runs:
                status = f"error {run.error}" if run.error else "ok"
                typer.echo(f"{run.source}: {run.new} new, {run.duplicates} duplicate, {status}")
            if any(run.error for run in runs):
                raise typer.Exit(1)
            return
        stop = stop_on_signals(log)
        scheduler = IngestScheduler(ingestor)
        scheduler.start()
        log.info("ingest running", sources=sorted(ingestor.sources))
        stop.wait()
        scheduler.stop(settings.daemon.shutdown_timeout_s)
    finally:
        ingestor.close()


def replay(
    paths: Annotated[list[Path], typer.Argument(help="Recorded files or folders.")],
    config: ConfigOption = None,
    speed: Annotated[float, typer.Option(help="Time compression; 0 = all at once.")] = 0.0,
    shift_to_now: Annotated[bool, typer.Option(help="Move timestamps into the present.")] = False,
    name: Annotated[str, typer.Option(help="Source name (part of item ids).")] = "replay",
) -> None:
    """Replay recorded feeds/items into the raw topic, print how many were produced, exit."""
    from ingest.service import Ingestor
    from ingest.sources.replay import ReplaySource

    settings = settings_or_exit(config)
    configure(settings.logging)
    source_config = ReplaySourceConfig(
        name=name, paths=paths, speed=speed, shift_to_now=shift_to_now
    )
    ingestor = Ingestor(settings)
    ingestor.setup([source_config])
    new = duplicates = 0
    errors: list[str] = []
    problems: list[str] = []
    try:
        source = ingestor.sources.get(name)
        while isinstance(source, ReplaySource):
            run = ingestor.poll(name)
            new, duplicates = new + run.new, duplicates + run.duplicates
            problems += run.problems
            if run.error:
                errors.append(run.error)
            wait = source.next_due_in_s()
            if wait is None:
                break
            time.sleep(min(wait, 1.0))
    finally:
        ingestor.close()
    typer.echo(
        f"replayed {new} items ({duplicates} duplicates skipped) to {settings.kafka.topics.raw}"
    )
    if errors or name not in ingestor.sources:
        typer.echo(
            f"finsent: some recordings could not be read: {', '.join(errors) or 'setup'}", err=True
        )
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """The ingest commands (entry point ``finsent.commands:ingest``)."""
    app.command("ingest")(ingest)
    app.command("replay")(replay)
