"""`finsent backtest`, `finsent alert`, `finsent deliver`, `finsent alerts tail`."""

from __future__ import annotations

from datetime import timedelta
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
    from alerting.detect.rules import RulesError, load_rules
    from alerting.tools.backtest import BacktestError, backtest, read_scored
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
    from alerting.tools.kibana import KibanaError, import_objects

    settings = settings_or_exit(config)
    try:
        answer = import_objects(url, settings.elasticsearch, space=space)
    except KibanaError as exc:
        fail(str(exc))
    typer.echo(f"imported {answer.get('successCount', 0)} saved objects into {url}")


alerts_app = typer.Typer(help="Alert events.")


@alerts_app.command("tail")
def alerts_tail(
    last: Annotated[int, typer.Option(help="Earlier events to show first (newest N).")] = 10,
    json_lines: Annotated[bool, typer.Option("--json", help="One Alert JSON per line.")] = False,
    config: ConfigOption = None,
) -> None:
    """Follow alert events (firing, escalated, resolved) until Ctrl-C."""
    from kafka.errors import KafkaError

    from alerting.tools.tail import follow, format_alert
    from finsent.logs import configure, get_logger
    from finsent.schemas import encode
    from finsent.signals import stop_on_signals

    settings = settings_or_exit(config)
    configure(settings.logging)  # logs go to stderr, events to stdout
    stop = stop_on_signals(get_logger("tail"))
    try:
        for alert in follow(settings, last, stop, lambda e: typer.echo(f"skipped: {e}", err=True)):
            typer.echo(encode(alert).decode() if json_lines else format_alert(alert))
    except (KafkaError, RuntimeError) as exc:
        fail(f"Kafka at {settings.kafka.bootstrap_servers} is not usable: {exc}")


def parse_span(text: str) -> timedelta:
    """``90m``, ``24h``, ``7d`` -> a timedelta (a clear error otherwise)."""
    units = {"m": "minutes", "h": "hours", "d": "days"}
    number, unit = text[:-1], text[-1:]
    if unit not in units or not number.isdigit() or int(number) == 0:
        raise typer.BadParameter(f"{text!r}: expected a number and m, h or d, e.g. 24h")
    return timedelta(**{units[unit]: int(number)})


def report(
    since: Annotated[str, typer.Option(help="How far back: 90m, 24h, 7d.")] = "24h",
    output: Annotated[Path, typer.Option("--output", "-o", help="Image to write.")] = Path(
        "report.png"
    ),
    tickers: Annotated[int, typer.Option(help="Busiest tickers to draw.")] = 5,
    topics: Annotated[int, typer.Option(help="Busiest topics to draw.")] = 2,
    config: ConfigOption = None,
) -> None:
    """Draw item volume and negative share over time for the top keys, alerts marked."""
    from datetime import UTC, datetime

    from alerting.tools.report import collect, draw, top_keys
    from finsent.es import make_client

    span = parse_span(since)
    settings = settings_or_exit(config)
    prefix = settings.elasticsearch.index_prefix
    until = datetime.now(UTC)
    start = until - span
    try:
        es = make_client(settings.elasticsearch)
        keys = top_keys(es, f"{prefix}-items", start, tickers, topics)
        series = collect(es, prefix, start, until, keys)
    except Exception as exc:  # noqa: BLE001 - transport and API errors vary by version
        fail(f"Elasticsearch at {settings.elasticsearch.hosts}: {type(exc).__name__}: {exc}")
    if not series:
        fail(f"no items in {prefix}-items since {start:%Y-%m-%d %H:%M} UTC")
    draw(series, start, until, output)
    marked = sum(len(s.alerts) for s in series)
    typer.echo(f"wrote {output}: {len(series)} keys, {marked} alerts marked")


def alert(config: ConfigOption = None) -> None:
    """Run the alert stage: scored -> keyed by alert key -> surge detectors -> alert events."""
    from finsent.cli.run_cmd import run_single

    run_single("alert", config)


def deliver(config: ConfigOption = None) -> None:
    """Run the deliver stage: alert events -> Elasticsearch and signed webhooks."""
    from finsent.cli.run_cmd import run_single

    run_single("deliver", config)


def register(app: typer.Typer) -> None:
    """The alerting commands (entry point ``finsent.commands:alerting``)."""
    app.add_typer(kibana_app, name="kibana")
    app.add_typer(alerts_app, name="alerts")
    app.command("report")(report)
    app.command("backtest")(backtest)
    app.command("alert")(alert)
    app.command("deliver")(deliver)
