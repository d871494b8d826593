"""`finsent backtest`, `alert`, `deliver`, `report`, `kibana import` and `alerts ...`.

``alerts mark`` records the analysts' verdict on an event (``--useful`` / ``--false-alarm``).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from finsent.cli.common import ConfigOption, fail, settings_or_exit
from finsent.config import Settings

if TYPE_CHECKING:
    from alerting.deliver.store import AlertStore, Verdict


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
            settings.samples, settings.kibana_url, settings.bin_s, settings.rhythm_slot_s,
            settings.rhythm_timezone,
        ):  # fmt: skip
            fired += 1
            if json_lines:
                typer.echo(encode(alert).decode())
            else:
                typer.echo(
                    f"{alert.window_start:%Y-%m-%d %H:%M} {alert.status:<9} {alert.severity:<8} "
                    f"{alert.key:<28} {(alert.window_s or 0) // 60:>4} min observed "
                    f"{alert.observed:g} expected {alert.expected:.2f} "
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


def _store(settings: Settings) -> AlertStore:
    from alerting.deliver.store import AlertStore
    from finsent.es import make_client

    return AlertStore(make_client(settings.elasticsearch), settings.elasticsearch.index_prefix)


def _es_failed(settings: Settings, exc: Exception) -> NoReturn:
    from alerting.deliver.store import AlertNotFound

    if isinstance(exc, AlertNotFound):
        fail(str(exc))
    fail(f"Elasticsearch at {settings.elasticsearch.hosts}: {type(exc).__name__}: {exc}")


Who = Annotated[str | None, typer.Option("--by", help="Who (default: your login name).")]
Note = Annotated[str | None, typer.Option(help="Why, for the others on the desk.")]


@alerts_app.command("list")
def alerts_list(
    key: Annotated[str | None, typer.Option(help="Only this key, e.g. ticker:BA.")] = None,
    status: Annotated[str | None, typer.Option(help="firing | escalated | resolved.")] = None,
    severity: Annotated[str | None, typer.Option(help="low | medium | high | critical.")] = None,
    since: Annotated[str, typer.Option(help="How far back: 90m, 24h, 7d.")] = "24h",
    until: Annotated[
        str | None, typer.Option(help="Up to this long ago (e.g. 1h); default now.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=10000, help="Newest N events.")] = 50,
    json_lines: Annotated[bool, typer.Option("--json", help="One document per line.")] = False,
    config: ConfigOption = None,
) -> None:
    """Alert events from Elasticsearch, newest first, with triage and delivery outcomes."""
    import json
    from datetime import UTC, datetime

    from alerting.deliver.store import AlertQuery
    from alerting.tools.triage import format_row

    choices = {"status": (status, ("firing", "escalated", "resolved")),
               "severity": (severity, ("low", "medium", "high", "critical"))}  # fmt: skip
    for name, (value, allowed) in choices.items():
        if value is not None and value not in allowed:
            raise typer.BadParameter(f"{value!r}: one of {', '.join(allowed)}", param_hint=name)
    now = datetime.now(UTC)
    query = AlertQuery(
        key=key, status=status, severity=severity, since=now - parse_span(since),
        until=now - parse_span(until) if until else None, limit=limit,
    )  # fmt: skip
    settings = settings_or_exit(config)
    try:
        docs = _store(settings).search(query)
    except Exception as exc:  # noqa: BLE001 - transport and API errors vary by version
        _es_failed(settings, exc)
    for doc in docs:
        typer.echo(json.dumps(doc) if json_lines else format_row(doc))
    if not json_lines:
        typer.echo(f"{len(docs)} alert events", err=True)


@alerts_app.command("ack")
def alerts_ack(
    alert_id: Annotated[str, typer.Argument(help="An event id of the incident.")],
    note: Note = None,
    by: Who = None,
    config: ConfigOption = None,
) -> None:
    """Acknowledge an incident: its later firing/escalated events are not sent again."""
    import getpass

    settings = settings_or_exit(config)
    try:
        doc = _store(settings).acknowledge(alert_id, by or getpass.getuser(), note)
    except Exception as exc:  # noqa: BLE001
        _es_failed(settings, exc)
    typer.echo(f"acknowledged incident {doc['incident_id']} ({doc['key']}, {doc['rule']})")


@alerts_app.command("mute")
def alerts_mute(
    alert_id: Annotated[str, typer.Argument(help="An event id of the key to mute.")],
    span: Annotated[str, typer.Option("--for", help="How long: 90m, 4h, 2d.")] = "4h",
    note: Note = None,
    by: Who = None,
    config: ConfigOption = None,
) -> None:
    """Mute the event's key: none of its events are sent until the time is up."""
    import getpass
    from datetime import UTC, datetime

    until = datetime.now(UTC) + parse_span(span)
    settings = settings_or_exit(config)
    try:
        doc = _store(settings).mute(alert_id, until, by or getpass.getuser(), note)
    except Exception as exc:  # noqa: BLE001
        _es_failed(settings, exc)
    typer.echo(f"muted {doc['key']} until {until:%Y-%m-%d %H:%M}Z")


@alerts_app.command("unmute")
def alerts_unmute(
    alert_id: Annotated[str, typer.Argument(help="The event the mute was set on.")],
    by: Who = None,
    config: ConfigOption = None,
) -> None:
    """End a mute now (the record of it stays on the document)."""
    import getpass
    from datetime import UTC, datetime

    settings = settings_or_exit(config)
    store = _store(settings)
    try:
        muted = store.get(alert_id).get("muted") or {}
        doc = store.mute(alert_id, datetime.now(UTC), by or getpass.getuser(), muted.get("note"))
    except Exception as exc:  # noqa: BLE001
        _es_failed(settings, exc)
    typer.echo(f"unmuted {doc['key']}")


@alerts_app.command("mark")
def alerts_mark(
    alert_id: Annotated[str, typer.Argument(help="The alert event to judge.")],
    useful: Annotated[bool, typer.Option("--useful", help="It was worth the desk's time.")] = False,
    false_alarm: Annotated[
        bool, typer.Option("--false-alarm", help="Nothing happened: the rule fired wrongly.")
    ] = False,
    note: Note = None,
    by: Who = None,
    config: ConfigOption = None,
) -> None:
    """Record whether an alert event was useful or a false alarm (stored on its document)."""
    import getpass

    if useful == false_alarm:
        raise typer.BadParameter("give exactly one of --useful and --false-alarm")
    verdict: Verdict = "useful" if useful else "false_alarm"
    settings = settings_or_exit(config)
    try:
        doc = _store(settings).mark(alert_id, verdict, by or getpass.getuser(), note)
    except Exception as exc:  # noqa: BLE001
        _es_failed(settings, exc)
    typer.echo(f"marked {alert_id} ({doc['key']}, {doc['rule']}) {verdict.replace('_', ' ')}")


@alerts_app.command("redeliver")
def alerts_redeliver(
    alert_ids: Annotated[
        list[str] | None, typer.Argument(help="Event ids (default: every dead delivery).")
    ] = None,
    endpoint: Annotated[str | None, typer.Option(help="Only this webhook.")] = None,
    since: Annotated[
        str | None, typer.Option(help="Only deliveries queued this recently: 24h, 7d.")
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Queue dead-lettered webhook deliveries again (the deliver stage sends them)."""
    from datetime import UTC, datetime

    from alerting.deliver.outbox import Outbox
    from alerting.tools.triage import redeliver

    settings = settings_or_exit(config)
    names = [w.name for w in settings.alerting.webhooks]
    if endpoint is not None and endpoint not in names:
        fail(f"no webhook named {endpoint!r} in the config (have: {', '.join(names) or 'none'})")
    if not settings.alerting.outbox_path.exists():
        fail(f"no outbox at {settings.alerting.outbox_path}: run this where `finsent deliver` runs")
    start = datetime.now(UTC) - parse_span(since) if since else None
    outbox = Outbox(settings.alerting.outbox_path)
    try:
        store = _store(settings) if alert_ids else None
        result = redeliver(outbox, store, names, alert_ids or [], endpoint, start)
    except Exception as exc:  # noqa: BLE001 - ES consulted for ids without outbox rows
        _es_failed(settings, exc)
    finally:
        outbox.close()
    for alert_id, name in result.requeued + result.restored:
        typer.echo(f"queued {alert_id} -> {name}")
    for alert_id in result.missing:
        typer.echo(f"not found: {alert_id}", err=True)
    total = len(result.requeued) + len(result.restored)
    typer.echo(f"{total} deliveries queued; a running `finsent deliver` sends them", err=True)
    if result.missing:
        raise typer.Exit(1)


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
    tickers: Annotated[
        int, typer.Option(min=0, help="Tickers to draw: those with the most negative items.")
    ] = 5,
    topics: Annotated[
        int, typer.Option(min=0, help="Topics to draw: those with the most negative items.")
    ] = 2,
    max_items: Annotated[
        int, typer.Option(min=1, help="Read at most this many items (the newest).")
    ] = 500_000,
    config: ConfigOption = None,
) -> None:
    """Draw items, negative items and negative share over time for the keys with most negatives."""
    from datetime import UTC, datetime

    from alerting.tools.report import (
        build_report,
        draw,
        fetch_alerts,
        fetch_items,
        item_frame,
        rank_keys,
    )
    from finsent.es import make_client

    span = parse_span(since)
    settings = settings_or_exit(config)
    prefix = settings.elasticsearch.index_prefix
    until = datetime.now(UTC)
    start = until - span
    where = f"Elasticsearch at {settings.elasticsearch.hosts}"
    try:
        es = make_client(settings.elasticsearch)
        items = fetch_items(es, prefix, start, until, max_items)
    except Exception as exc:  # noqa: BLE001 - transport and API errors vary by version
        fail(f"{where}: {type(exc).__name__}: {exc}")
    if not items.docs:
        fail(f"no items in {prefix}-items since {start:%Y-%m-%d %H:%M} UTC")
    frame = item_frame(items.docs)
    keys = rank_keys(frame, tickers, topics)
    if not keys:
        fail(f"no keys to draw: --tickers {tickers} --topics {topics} over {len(items.docs)} items")
    try:
        alerts = fetch_alerts(es, prefix, start, until, keys)
    except Exception as exc:  # noqa: BLE001
        fail(f"{where}: {type(exc).__name__}: {exc}")
    if items.truncated:
        typer.echo(
            f"read only the newest {max_items} items of the range (--max-items); "
            "the time axis starts where they do"
        )
    picture = build_report(frame, keys, alerts)
    draw(picture, output)
    typer.echo(
        f"wrote {output}: {len(picture.keys)} keys ({', '.join(picture.keys)}), "
        f"{len(picture.marked)} alerts marked, "
        f"{picture.data_start:%Y-%m-%d %H:%M} to {picture.data_end:%Y-%m-%d %H:%M} UTC"
    )


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
