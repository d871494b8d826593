"""`finsent backtest`, `finsent alert`, `finsent deliver`, `finsent alerts tail`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from finsent.cli.common import ConfigOption, fail, settings_or_exit


def backtest(
    sources: Annotated[list[Path], typer.Option("--from", help="Recorded ScoredItem JSONL files.")],
    rules: Annotated[
        Path | None, typer.Option(help="Rules YAML (default: the config's, else shipped).")
    ] = None,
    json_lines: Annotated[bool, typer.Option("--json", help="One Alert JSON per line.")] = False,
    config: ConfigOption = None,
) -> None:
    """Replay recorded scored items through the surge detector and print its alerts."""
    from alerting.backtest import BacktestError, backtest, read_scored
    from alerting.rules import RulesError, load_rules
    from finsent.schemas import encode

    settings = settings_or_exit(config).alerting
    try:
        ruleset = load_rules(rules or settings.rules_file)
    except RulesError as exc:
        fail(str(exc), code=2)
    fired = 0
    try:
        for alert in backtest(
            read_scored(sources), ruleset, settings.window_s, settings.lateness_s,
            settings.samples, settings.kibana_url,
        ):  # fmt: skip
            fired += 1
            if json_lines:
                typer.echo(encode(alert).decode())
            else:
                typer.echo(
                    f"{alert.window_start:%Y-%m-%d %H:%M} {alert.status:<9} {alert.severity:<8} "
                    f"{alert.key:<28} observed {alert.observed:g} expected {alert.expected:.2f} "
                    f"ratio {alert.ratio:.1f} p {alert.p_value:.1e}  {alert.rule}"
                )
    except BacktestError as exc:
        fail(str(exc), code=2)
    if not json_lines:
        typer.echo(f"{fired} alert events", err=True)


kibana_app = typer.Typer(help="Kibana saved objects: data views, visualisations, dashboard.")


@kibana_app.command("import")
def kibana_import(
    url: Annotated[str, typer.Option(help="Kibana base URL.")] = "http://127.0.0.1:5601",
    space: Annotated[
        str | None, typer.Option(help="Kibana space id (default space: none).")
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Import deploy/kibana/finsent.ndjson (overwriting earlier versions)."""
    from alerting.kibana import KibanaError, import_objects

    settings = settings_or_exit(config)
    try:
        answer = import_objects(url, settings.elasticsearch, space=space)
    except KibanaError as exc:
        fail(str(exc))
    typer.echo(f"imported {answer.get('successCount', 0)} saved objects into {url}")
