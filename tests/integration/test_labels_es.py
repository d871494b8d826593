"""`finsent label export|import` and `finsent alerts mark` on the real Elasticsearch."""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from elasticsearch import Elasticsearch

from alerting.deliver.store import AlertStore
from alerting.index.elasticsearch import ElasticsearchSink
from classifier.training.labelset import read_labels, versions
from finsent.config import Settings
from finsent.es import install_templates, make_client
from finsent.schemas import Alert, AlertSample, Prediction, ScoredItem, SentimentPrediction
from tests.cli import finsent
from tests.integration.conftest import drop_test_indices

pytestmark = pytest.mark.integration
NOW = datetime.now(UTC).replace(microsecond=0)


def item(n: int, ticker: str, negative: float, minutes_ago: int) -> ScoredItem:
    at = NOW - timedelta(minutes=minutes_ago)
    rest = (1 - negative) / 2
    return ScoredItem(
        id=f"item-{n}", source=f"src{n % 3}", kind="news", title=f"{ticker} story number {n}",
        text="body", published_at=at, fetched_at=at, story_id=f"s{n}", tickers=[ticker],
        sentiment=SentimentPrediction(label="negative" if negative > rest else "neutral",
                                      scores={"negative": negative, "neutral": rest, "positive": rest}),
        topic=Prediction(label="Earnings", scores={"Earnings": 0.8, "Macro": 0.2}),
        model="m@1", classified_at=at,
    )  # fmt: skip


ITEMS = [item(i, "AAPL", 0.36 + i * 0.02, 30 + i) for i in range(8)]
ITEMS += [item(10 + i, "TSLA", 0.9, 100 + i) for i in range(4)]  # sure: low on uncertainty


@pytest.fixture
def es(settings: Settings, unique: str) -> Iterator[Elasticsearch]:
    client = make_client(settings.elasticsearch)
    install_templates(client, unique)
    sink = ElasticsearchSink(client, unique)
    for scored in ITEMS:
        sink.add(scored)
    assert not sink.flush().rejected
    client.indices.refresh(index=f"{unique}-items")
    yield client
    drop_test_indices(client, unique)


@pytest.fixture
def alert(es: Elasticsearch, unique: str) -> Alert:
    """A TSLA surge over TSLA's items, one of them its evidence."""
    event = Alert(
        id="tsla1-firing", incident_id="tsla1", rule="negative-surge", key="ticker:TSLA",
        status="firing", window_start=NOW - timedelta(minutes=110), window_end=NOW - timedelta(minutes=90),
        observed=4, expected=0.5, total=4, ratio=8.0, p_value=1e-6, severity="high",
        peak_severity="high", created_at=NOW - timedelta(minutes=89),
        samples=[AlertSample(id="item-12", title="TSLA story number 12", score=0.9)],
    )  # fmt: skip
    assert AlertStore(es, unique).create(event)
    es.indices.refresh(index=f"{unique}-alerts")
    return event


def env(unique: str, store: Path, **extra: str) -> dict[str, str]:
    return os.environ | {"FINSENT_ELASTICSEARCH__INDEX_PREFIX": unique,
                         "FINSENT_LABELS__PATH": str(store)} | extra  # fmt: skip


def review_rows(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(path.read_text(encoding="utf-8-sig").splitlines()))


def test_export_from_es_with_a_key_filter(es: Elasticsearch, unique: str, tmp_path: Path) -> None:
    run = finsent("label", "export", "--key", "ticker:AAPL", "--limit", "5", "--out",
                  str(tmp_path), env=env(unique, tmp_path / "store"))  # fmt: skip
    assert run.returncode == 0, run.stderr
    rows = review_rows(tmp_path / "labels-to-review.csv")
    assert len(rows) == 5
    assert all(r["id"] in {f"item-{i}" for i in range(8)} for r in rows)
    assert rows[0]["text"].startswith("AAPL story number") and rows[0]["model_topic"] == "Earnings"
    tasks = json.loads((tmp_path / "label-studio.json").read_text())
    assert [t["data"]["id"] for t in tasks] == [r["id"] for r in rows]
    everything = finsent("label", "export", "--limit", "50", "--out", str(tmp_path / "all"),
                         env=env(unique, tmp_path / "store"))  # fmt: skip
    assert everything.returncode == 0, everything.stderr
    assert f"wrote {len(ITEMS)} of {len(ITEMS)} items" in everything.stdout
    assert len(review_rows(tmp_path / "all" / "labels-to-review.csv")) == len(ITEMS)


def test_from_alert_puts_the_alerts_items_first(
    es: Elasticsearch, alert: Alert, unique: str, tmp_path: Path
) -> None:
    run = finsent("label", "export", "--from-alert", alert.id, "--limit", "6", "--out",
                  str(tmp_path), env=env(unique, tmp_path / "store"))  # fmt: skip
    assert run.returncode == 0, run.stderr
    ids = [r["id"] for r in review_rows(tmp_path / "labels-to-review.csv")]
    assert ids[0] == "item-12"  # the alert's sample
    assert set(ids[:4]) == {"item-10", "item-11", "item-12", "item-13"}  # its window
    assert all(i.startswith("item-") and int(i[5:]) < 8 for i in ids[4:])  # then the selection
    assert "4 of them from alert tsla1-firing" in run.stdout
    missing = finsent("label", "export", "--from-alert", "nope", "--out", str(tmp_path),
                      env=env(unique, tmp_path / "store"))  # fmt: skip
    assert missing.returncode == 2 and "no alert event 'nope'" in missing.stderr


def fill(review: Path, answers: dict[str, tuple[str, str]]) -> Path:
    rows = review_rows(review)
    for row in rows:
        row["sentiment"], row["topic"] = answers.get(row["id"], ("", ""))
    path = review.with_name("filled.csv")
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def correction(es: Elasticsearch, unique: str, ident: str) -> dict[str, Any] | None:
    hits = es.search(index=f"{unique}-items", query={"ids": {"values": [ident]}})["hits"]["hits"]
    found: dict[str, Any] | None = hits[0]["_source"].get("correction")
    return found


def test_import_corrects_the_item_documents(es: Elasticsearch, unique: str, tmp_path: Path) -> None:
    store = tmp_path / "store"
    finsent("label", "export", "--out", str(tmp_path), env=env(unique, store))
    filled = fill(tmp_path / "labels-to-review.csv",
                  {"item-1": ("Positive", ""), "item-11": ("negative", "macro")})  # fmt: skip
    run = finsent("label", "import", str(filled), "--by", "ana", env=env(unique, store))
    assert run.returncode == 0, run.stderr
    assert "corrected 2 item documents" in run.stdout
    assert f"{len(ITEMS) - 2} rows without a label skipped" in run.stdout
    got = correction(es, unique, "item-11")
    assert got is not None
    assert (got["sentiment"], got["topic"], got["by"]) == ("negative", "Macro", "ana")
    first = correction(es, unique, "item-1")
    assert first is not None and (first["sentiment"], first["topic"]) == ("positive", None)
    assert correction(es, unique, "item-2") is None
    labels = {lb.id: lb for lb in read_labels(store)}
    assert set(labels) == {"item-1", "item-11"}
    assert labels["item-11"].source == "src2" and labels["item-11"].labelled_by == "ana"
    # dashboards can filter on the corrected items
    found = es.count(index=f"{unique}-items", query={"term": {"correction.sentiment": "positive"}})
    assert found["count"] == 1


def test_elasticsearch_down_stores_the_labels_and_es_only_catches_up(
    es: Elasticsearch, unique: str, tmp_path: Path
) -> None:
    store = tmp_path / "store"
    finsent("label", "export", "--out", str(tmp_path), env=env(unique, store))
    filled = fill(tmp_path / "labels-to-review.csv", {"item-3": ("neutral", "")})
    down = env(unique, store, FINSENT_ELASTICSEARCH__HOSTS='["http://127.0.0.1:9"]',
               FINSENT_ELASTICSEARCH__REQUEST_TIMEOUT_S="2")  # fmt: skip
    run = finsent("label", "import", str(filled), env=down)
    assert run.returncode == 1
    assert "stored 1 labels" in run.stdout
    assert "was not updated" in run.stderr and "--es-only" in run.stderr
    assert len(versions(store)) == 1 and read_labels(store)[0].id == "item-3"
    assert correction(es, unique, "item-3") is None
    again = finsent("label", "import", str(filled), "--es-only", env=env(unique, store))
    assert again.returncode == 0, again.stderr
    assert (correction(es, unique, "item-3") or {}).get("sentiment") == "neutral"
    assert len(versions(store)) == 1


def test_alerts_mark_is_stored_and_listed(
    es: Elasticsearch, alert: Alert, unique: str, tmp_path: Path
) -> None:
    run = finsent("alerts", "mark", alert.id, "--false-alarm", "--note", "old news", "--by", "bo",
                  env=env(unique, tmp_path / "store"))  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "false alarm" in run.stdout
    doc = AlertStore(es, unique).get(alert.id)
    assert doc["feedback"]["verdict"] == "false_alarm"
    assert (doc["feedback"]["by"], doc["feedback"]["note"]) == ("bo", "old news")
    listed = finsent("alerts", "list", "--json", "--since", "7d", env=env(unique, tmp_path / "s"))
    (shown,) = [json.loads(line) for line in listed.stdout.splitlines()]
    assert shown["feedback"]["verdict"] == "false_alarm"
    table = finsent("alerts", "list", "--since", "7d", env=env(unique, tmp_path / "s"))
    assert "false alarm (bo)" in table.stdout
    useful = finsent("alerts", "mark", alert.id, "--useful", env=env(unique, tmp_path / "s"))
    assert (
        useful.returncode == 0
        and AlertStore(es, unique).get(alert.id)["feedback"]["verdict"] == "useful"
    )
    both = finsent("alerts", "mark", alert.id, env=env(unique, tmp_path / "s"))
    assert both.returncode == 2 and "exactly one of --useful and --false-alarm" in both.stderr
    missing = finsent("alerts", "mark", "nope", "--useful", env=env(unique, tmp_path / "s"))
    assert missing.returncode == 1 and "no alert event 'nope'" in missing.stderr
