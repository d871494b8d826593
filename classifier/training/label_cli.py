"""`finsent label export|import`: the team's labels as data (entry point ``labels``).

``export`` picks the items most worth an analyst's time (``selection``) from Elasticsearch
or ScoredItem JSON lines and writes a review CSV and a Label Studio import; ``import``
validates the filled-in file, stores it as a new version of the label store
(``labels.path``) and writes each correction onto its item document in Elasticsearch.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from finsent.cli.common import ConfigOption, fail, settings_or_exit

if TYPE_CHECKING:
    from classifier.training.label_sources import Offered
    from finsent.config import Settings

label_app = typer.Typer(
    help="Labels as data: pick items for analysts, import their labels.", no_args_is_help=True
)

CSV_NAME = "labels-to-review.csv"
LABEL_STUDIO_NAME = "label-studio.json"
LABEL_STUDIO_CONFIG_NAME = "label-studio.xml"
DEFAULT_SINCE = timedelta(days=7)


def parse_when(text: str, now: datetime) -> datetime:
    """``90m``, ``24h``, ``7d`` ago, or an ISO-8601 instant (UTC when no zone is given)."""
    units = {"m": "minutes", "h": "hours", "d": "days"}
    number, unit = text[:-1], text[-1:]
    if unit in units and number.isdigit():
        return now - timedelta(**{units[unit]: int(number)})
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(
            f"{text!r}: expected a span (90m, 24h, 7d) or an ISO-8601 time"
        ) from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _where(settings: Settings) -> str:
    return f"Elasticsearch at {', '.join(settings.elasticsearch.hosts)}"


@label_app.command("export")
def export(
    since: Annotated[
        str | None,
        typer.Option(help="From: 7d, 24h or an ISO time (default 7d; JSONL: every item)."),
    ] = None,
    until: Annotated[str | None, typer.Option(help="Up to: 1h (ago) or an ISO time.")] = None,
    key: Annotated[
        list[str] | None, typer.Option(help="Only items of this alert key (repeatable).")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=100_000, help="Items to export.")] = 200,
    from_jsonl: Annotated[
        list[Path] | None,
        typer.Option("--from-jsonl", help="ScoredItem JSONL files instead of Elasticsearch."),
    ] = None,
    from_alert: Annotated[
        str | None, typer.Option("--from-alert", help="An alert event id: its items first.")
    ] = None,
    out: Annotated[Path, typer.Option(help="Folder of the review files.")] = Path("."),
    csv_path: Annotated[
        Path | None, typer.Option("--csv", help=f"Default: OUT/{CSV_NAME}.")
    ] = None,
    label_studio: Annotated[
        Path | None, typer.Option(help=f"Default: OUT/{LABEL_STUDIO_NAME}.")
    ] = None,
    max_items: Annotated[
        int, typer.Option(min=1, help="Read at most this many items (the newest).")
    ] = 50_000,
    config: ConfigOption = None,
) -> None:
    """Write the items most worth labelling: a review CSV and a Label Studio import."""
    import json

    from classifier.training import label_files
    from classifier.training.label_sources import SourceError
    from classifier.training.selection import select

    settings = settings_or_exit(config)
    now = datetime.now(UTC)
    start = parse_when(since, now) if since else None
    end = parse_when(until, now) if until else None
    keys = key or []
    try:
        offers, first = _offers(settings, from_jsonl or [], start, end, keys, max_items, from_alert)
    except SourceError as exc:
        fail(str(exc), code=2)
    if not offers:
        where = ", ".join(map(str, from_jsonl)) if from_jsonl else _where(settings)
        fail(f"no items to export from {where} (range, --key {' '.join(keys) or '-'})")
    by_id = {o.candidate.id: o for o in offers}
    chosen = [by_id[c.id] for c in select([o.candidate for o in offers], limit, first=first)]
    csv_file = csv_path or out / CSV_NAME
    studio = label_studio or out / LABEL_STUDIO_NAME
    for path in (csv_file, studio):
        path.parent.mkdir(parents=True, exist_ok=True)
    csv_file.write_text(label_files.review_csv(chosen), encoding="utf-8-sig", newline="")
    studio.write_text(json.dumps(label_files.label_studio_tasks(chosen), ensure_ascii=False,
                                 indent=1) + "\n", encoding="utf-8")  # fmt: skip
    studio.with_suffix(".xml").write_text(label_files.label_studio_config(), encoding="utf-8")
    leading = len(set(first) & {o.candidate.id for o in chosen})
    alert_part = f", {leading} of them from alert {from_alert}" if from_alert else ""
    typer.echo(
        f"wrote {len(chosen)} of {len(offers)} items{alert_part} to {csv_file} and {studio} "
        f"(labelling config: {studio.with_suffix('.xml')})"
    )


def _offers(
    settings: Settings,
    jsonl: list[Path],
    start: datetime | None,
    end: datetime | None,
    keys: list[str],
    max_items: int,
    alert_id: str | None,
) -> tuple[list[Offered], list[str]]:
    """The items to choose from and the ids that lead (an alert's items)."""
    from classifier.training import label_sources as src
    from finsent.es import make_client

    for name in keys:
        src.key_query(name)  # an unknown key kind is refused before any reading
    prefix = settings.elasticsearch.index_prefix
    offers: list[Offered] = []
    alert_offers: list[Offered] = []
    window: src.AlertWindow | None = None
    every: list[Offered] = []
    if jsonl:
        every = list(src.read_jsonl(jsonl))
        offers = [o for o in every if src.matches(o, keys) and src.in_range(o, start, end)]
    if alert_id or not jsonl:
        now = datetime.now(UTC)
        try:
            es = make_client(settings.elasticsearch)
            if alert_id:
                window = src.alert_window(es, prefix, alert_id)
            if jsonl and window is not None:
                alert_offers = [
                    o for o in every
                    if o.candidate.id in window.samples
                    or (src.matches(o, [window.key]) and src.in_range(o, window.start, window.end))
                ]  # fmt: skip
            elif window is not None:
                alert_offers = src.search_items(
                    es, prefix, window.start, window.end, [window.key], max_items, window.samples
                )
            if not jsonl:
                offers = src.search_items(es, prefix, start or now - DEFAULT_SINCE, end or now,
                                          keys, max_items)  # fmt: skip
        except src.SourceError:
            raise
        except Exception as exc:  # noqa: BLE001 - transport and API errors vary by version
            fail(f"{_where(settings)}: {type(exc).__name__}: {exc}")
    merged = {o.candidate.id: o for o in [*alert_offers, *offers]}
    first = src.alert_first(window, alert_offers) if window is not None else []
    return list(merged.values()), first


@label_app.command("import")
def import_labels(
    file: Annotated[Path, typer.Argument(help="The filled-in CSV, or a Label Studio JSON export.")],
    by: Annotated[
        str | None, typer.Option("--by", help="Who labelled (default: your login name).")
    ] = None,
    es_only: Annotated[
        bool,
        typer.Option("--es-only", help="Only write the corrections to Elasticsearch (no store)."),
    ] = False,
    config: ConfigOption = None,
) -> None:
    """Validate labels, store them as a new version and correct the items in Elasticsearch."""
    import dataclasses
    import getpass
    import hashlib

    from classifier.training import corrections, label_files, labelset
    from finsent.es import make_client

    settings = settings_or_exit(config)
    try:
        parsed = label_files.read_import(file)
        at = labelset.utc_now()
        labels = label_files.validate(file, parsed.rows, by or getpass.getuser(), at)
    except labelset.LabelError as exc:
        fail(str(exc), code=2)
    skipped = f" ({parsed.unlabelled} rows without a label skipped)" if parsed.unlabelled else ""
    if not labels:
        fail(f"{file}: no labelled rows{skipped}; nothing imported")
    prefix = settings.elasticsearch.index_prefix
    es_problem: str | None = None
    where: dict[str, dict[str, object]] = {}
    try:
        es = make_client(settings.elasticsearch)
        where = corrections.locate(es, prefix, [lb.id for lb in labels])
    except Exception as exc:  # noqa: BLE001 - transport and API errors vary by version
        es_problem = f"{type(exc).__name__}: {exc}"
    labels = [
        dataclasses.replace(lb, source=str(where[lb.id]["source"]))
        if lb.id in where and where[lb.id].get("source") else lb
        for lb in labels
    ]  # fmt: skip
    store = settings.labels.path
    if not es_only:
        digest = hashlib.sha256(file.read_bytes()).hexdigest()
        earlier = labelset.find_version(store, digest)
        if earlier is not None:
            typer.echo(f"{file} is already stored as {earlier}{skipped}; not stored again")
        else:
            path = labelset.write_version(store, labels, origin=str(file), input_sha256=digest)
            typer.echo(f"stored {len(labels)} labels as {path}{skipped}")
    rerun = f"`finsent label import {file} --es-only` (or the same command again)"
    if es_problem is not None:
        stored = "" if es_only else " The labels are stored;"
        fail(f"{_where(settings)} was not updated: {es_problem}.{stored} when it is back, "
             f"run {rerun}")  # fmt: skip
    try:
        applied = corrections.apply(es, prefix, labels, at, where)
    except Exception as exc:  # noqa: BLE001
        fail(f"{_where(settings)} was not updated: {type(exc).__name__}: {exc}; run {rerun}")
    typer.echo(f"corrected {applied.updated} item documents in {prefix}-items")
    if applied.missing:
        typer.echo(f"{len(applied.missing)} ids are not indexed (kept in the store only)", err=True)
    if applied.failed:
        for ident, reason in applied.failed[:20]:
            typer.echo(f"not corrected: {ident}: {reason}", err=True)
        fail(f"{len(applied.failed)} item documents were not corrected; run {rerun}")


def register(app: typer.Typer) -> None:
    """The labelling commands (entry point ``finsent.commands:labels``)."""
    app.add_typer(label_app, name="label")
