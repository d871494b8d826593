import csv
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from classifier.training.labelset import read_labels, versions
from finsent.cli import app
from finsent.schemas import Prediction, ScoredItem, SentimentPrediction, encode

runner = CliRunner()
T0 = datetime(2026, 12, 1, 12, tzinfo=UTC)


def item(
    n: int, ticker: str, negative: float, source: str = "wire", title: str | None = None
) -> ScoredItem:
    rest = (1 - negative) / 2
    return ScoredItem(
        id=f"item-{n}", source=source, kind="news", title=title or f"{ticker} story number {n}",
        published_at=T0 + timedelta(minutes=n), fetched_at=T0 + timedelta(minutes=n),
        story_id=f"s{n}", tickers=[ticker],
        sentiment=SentimentPrediction(label="negative" if negative > rest else "neutral",
                                      scores={"negative": negative, "neutral": rest, "positive": rest}),
        topic=Prediction(label="Earnings", scores={"Earnings": 0.9, "Macro": 0.1}),
        model="m@1", classified_at=T0,
    )  # fmt: skip


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    store = tmp_path / "store"
    monkeypatch.setenv("FINSENT_LABELS__PATH", str(store))
    # nothing listens on port 9: Elasticsearch is "down"
    monkeypatch.setenv("FINSENT_ELASTICSEARCH__HOSTS", '["http://127.0.0.1:9"]')
    monkeypatch.setenv("FINSENT_ELASTICSEARCH__REQUEST_TIMEOUT_S", "2")
    monkeypatch.delenv("FINSENT_CONFIG", raising=False)
    return store


@pytest.fixture
def scored(tmp_path: Path) -> Path:
    items = [item(i, "AAPL" if i % 2 else "TSLA", 0.35 + i * 0.01) for i in range(10)]
    items.append(item(20, "AAPL", 0.34, title="=SUM(A1) looks like a formula"))
    items.append(item(21, "AAPL", 0.9, title="AAPL story, number 1!"))  # item-1's text again
    path = tmp_path / "scored.jsonl"
    path.write_bytes(b"".join(encode(i) + b"\n" for i in items))
    return path


def test_export_from_jsonl_with_a_key_filter(env: Path, scored: Path, tmp_path: Path) -> None:
    out = tmp_path / "review"
    result = runner.invoke(app, ["label", "export", "--from-jsonl", str(scored), "--key", "ticker:AAPL",
                                 "--limit", "20", "--out", str(out)])  # fmt: skip
    assert result.exit_code == 0, result.output
    raw = (out / "labels-to-review.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # a BOM: Excel reads UTF-8
    rows = list(csv.DictReader(raw.decode("utf-8-sig").splitlines()))
    ids = [r["id"] for r in rows]
    assert "item-21" not in ids  # near-duplicate of item-1
    assert set(ids) == {"item-1", "item-3", "item-5", "item-7", "item-9", "item-20"}
    assert all(
        r["sentiment"] == "" and r["topic"] == "" and r["model_topic"] == "Earnings" for r in rows
    )
    assert next(r for r in rows if r["id"] == "item-20")["text"].startswith("'=")
    tasks = json.loads((out / "label-studio.json").read_text())
    assert [t["data"]["id"] for t in tasks] == ids
    assert '<Choices name="topic"' in (out / "label-studio.xml").read_text()
    assert "wrote 6 of 7 items" in result.output


def test_export_rejects_an_unknown_key_kind(env: Path, scored: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["label", "export", "--from-jsonl", str(scored), "--key", "AAPL",
                                 "--out", str(tmp_path)])  # fmt: skip
    assert result.exit_code == 2 and "expected ticker:NAME" in result.output
    result = runner.invoke(app, ["label", "export", "--from-jsonl", str(scored), "--key", "ticker:NONE",
                                 "--out", str(tmp_path / "none")])  # fmt: skip
    assert result.exit_code == 1 and "no items to export" in result.output
    assert not (tmp_path / "none").exists()


def labelled_csv(tmp_path: Path, rows: list[tuple[str, str, str]]) -> Path:
    path = tmp_path / "filled.csv"
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["id", "text", "sentiment", "topic", "model_sentiment", "model_topic", "margin"]
        )
        for ident, sentiment, topic in rows:
            writer.writerow(
                [ident, f"text of {ident}", sentiment, topic, "neutral", "Macro", "0.1"]
            )
    return path


def test_import_with_elasticsearch_down_stores_labels_and_fails_clearly(
    env: Path, tmp_path: Path
) -> None:
    path = labelled_csv(tmp_path, [("a", "Negative", ""), ("b", "", "macro"), ("c", "", "")])
    result = runner.invoke(app, ["label", "import", str(path), "--by", "ana"])
    assert result.exit_code == 1
    assert (
        "stored 2 labels as" in result.output and "1 rows without a label skipped" in result.output
    )
    assert "was not updated" in result.output and "--es-only" in result.output
    stored = read_labels(env)
    assert [(lb.id, lb.sentiment, lb.topic, lb.labelled_by) for lb in stored] == [
        ("a", "negative", None, "ana"),
        ("b", None, "Macro", "ana"),
    ]
    again = runner.invoke(app, ["label", "import", str(path), "--by", "ana"])
    assert "already stored" in again.output and again.exit_code == 1
    assert len(versions(env)) == 1  # a rerun does not store the labels twice


def test_a_bad_file_imports_nothing(env: Path, tmp_path: Path) -> None:
    path = labelled_csv(
        tmp_path, [("a", "negative", ""), ("b", "bearish", ""), ("a", "positive", "")]
    )
    result = runner.invoke(app, ["label", "import", str(path)])
    assert result.exit_code == 2
    assert (
        "row 3 (b): sentiment 'bearish' is not one of: negative, neutral, positive" in result.output
    )
    assert "row 4 (a): labelled differently in row 2" in result.output
    assert not env.exists() or versions(env) == []
    empty = labelled_csv(tmp_path, [("a", "", "")])
    result = runner.invoke(app, ["label", "import", str(empty)])
    assert result.exit_code == 1 and "no labelled rows" in result.output
