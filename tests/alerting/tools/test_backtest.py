"""`finsent backtest`: recorded ScoredItems in, the alerts the detector would fire out."""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from finsent.schemas import Alert, Prediction, ScoredItem, SentimentPrediction, decode, encode
from tests.cli import finsent

T0 = datetime(2026, 3, 2, tzinfo=UTC)


def scored(n: int, at: datetime, ticker: str, negative: bool, topic: str) -> ScoredItem:
    label = "negative" if negative else "neutral"
    return ScoredItem(
        id=f"i{n}", source="wire", kind="news", title=f"{ticker} headline {n}", url=f"https://n/{n}",
        published_at=at, fetched_at=at, story_id=f"s{n}", tickers=[ticker],
        sentiment=SentimentPrediction(label=label, scores={"negative": 0.9 if negative else 0.1,
                                                           "neutral": 0.1, "positive": 0.0}),
        topic=Prediction(label=topic, scores={topic: 1.0}), model="m@1", classified_at=at,
    )  # fmt: skip


def recording(path: Path) -> Path:
    items = []
    n = 0
    for window in range(120):  # 30 h of 15-min periods: 1-2 negatives per ticker
        for ticker, topic in (("ACME", "Company | Product News"), ("CTRL", "Earnings")):
            for k in range(3 + window % 2):
                at = T0 + timedelta(minutes=15 * window + 3 * k + (1 if ticker == "CTRL" else 0))
                items.append(scored(n, at, ticker, negative=k < 1 + window % 2, topic=topic))
                n += 1
    burst = T0 + timedelta(hours=30, minutes=2)
    for k in range(14):  # a burst of negative stories about ACME
        items.append(
            scored(n, burst + timedelta(seconds=40 * k), "ACME", True, "Company | Product News")
        )
        n += 1
    path.write_text("\n".join(encode(i).decode() for i in items) + "\n")
    return path


def test_backtest_prints_the_alerts_of_a_recorded_burst(tmp_path: Path) -> None:
    result = finsent("backtest", "--from", str(recording(tmp_path / "rec.jsonl")), "--json")
    assert result.returncode == 0, result.stderr
    alerts = [decode(Alert, line) for line in result.stdout.splitlines()]
    by_key = {(a.key, a.status) for a in alerts}
    assert ("ticker:ACME", "firing") in by_key
    assert ("ticker:ACME", "resolved") in by_key, "the end of the recording closes the incident"
    assert not any(a.key == "ticker:CTRL" for a in alerts), "the control ticker stays quiet"
    firing = next(a for a in alerts if a.key == "ticker:ACME" and a.status == "firing")
    burst = T0 + timedelta(hours=30, minutes=2)
    assert firing.window_start <= burst < firing.window_end
    assert firing.created_at <= burst + timedelta(minutes=5), "found within minutes"
    assert firing.samples and firing.samples[0].title.startswith("ACME headline")
    table = finsent("backtest", "--from", str(tmp_path / "rec.jsonl"))
    assert "ticker:ACME" in table.stdout and "firing" in table.stdout


def test_backtest_names_the_bad_line_and_the_bad_rule(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"schema_version": 1, "id": "x"}) + "\n")
    result = finsent("backtest", "--from", str(bad))
    assert result.returncode == 2
    assert f"{bad}:1: ScoredItem." in result.stderr and "Traceback" not in result.stderr
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  - name: x\n    min_ratio: 0.5\n")
    result = finsent("backtest", "--from", str(bad), "--rules", str(rules))
    assert result.returncode == 2 and "rules.0.min_ratio" in result.stderr
