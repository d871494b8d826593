"""`finsent report` against the real Elasticsearch: items and alerts in, a picture out."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from elasticsearch import Elasticsearch, helpers
from typer.testing import CliRunner, Result

from alerting.index.elasticsearch import document, index_name
from alerting.tools.report import fetch_alerts, fetch_items, item_frame, rank_keys
from finsent.cli import build_app
from finsent.config import Settings
from finsent.es import install_templates, make_client
from finsent.schemas import Alert, Prediction, ScoredItem, SentimentPrediction
from tests.integration.conftest import drop_test_indices

NOW = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
T0 = NOW - timedelta(hours=3)


@pytest.fixture
def es(settings: Settings, unique: str) -> Iterator[Elasticsearch]:
    client = make_client(settings.elasticsearch)
    install_templates(client, unique)
    yield client
    drop_test_indices(client, unique)


def scored(n: int, minutes: int, ticker: str, topic: str, negative: bool) -> ScoredItem:
    at = T0 + timedelta(minutes=minutes)
    label = "negative" if negative else "neutral"
    return ScoredItem(
        id=f"{ticker}-{n}", source="wire", kind="news", title=f"{ticker} headline {n}",
        published_at=at, fetched_at=at, story_id=f"s-{ticker}-{n}", tickers=[ticker],
        sentiment=SentimentPrediction(label=label, scores={"negative": 0.9 if negative else 0.1,
                                                           "neutral": 0.1, "positive": 0.0}),
        topic=Prediction(label=topic, scores={topic: 1.0}), model="m@1", classified_at=at,
    )  # fmt: skip


def alert(n: int, key: str, status: str, minutes: int) -> Alert:
    end = T0 + timedelta(minutes=minutes)
    return Alert(
        id=f"a{n}", incident_id=f"inc-{key}", rule="negative_surge", key=key, status=status,
        window_start=end - timedelta(minutes=15), window_end=end, observed=5, expected=1.2,
        total=6, ratio=4.2, p_value=0.001, severity="high", created_at=end,
    )  # fmt: skip


def index_fixture(es: Elasticsearch, prefix: str) -> None:
    """BUSY: 30 calm items; HOT: 6 items, 5 negative; MID: 12 items, 2 negative."""
    items = [scored(n, 4 * n, "BUSY", "Markets", False) for n in range(30)]
    items += [scored(n, 60 + 2 * n, "HOT", "Earnings", n > 0) for n in range(6)]
    items += [scored(n, 30 + 5 * n, "MID", "Markets", n < 2) for n in range(12)]
    stamp = NOW.isoformat()
    actions = [
        {"_index": index_name(prefix, i), "_id": i.id, "_source": document(i, stamp)} for i in items
    ]
    alerts = [
        alert(1, "ticker:HOT", "firing", 75),
        alert(2, "ticker:HOT", "resolved", 110),  # the end of the incident: not marked
        alert(3, "ticker:BUSY", "firing", 50),  # a key not drawn
    ]
    actions += [
        {"_index": f"{prefix}-alerts", "_id": a.id, "_source": a.model_dump(mode="json")}
        for a in alerts
    ]
    indexed, errors = helpers.bulk(es, actions, refresh="wait_for")
    assert indexed == len(actions) and not errors


def report(prefix: str, *args: str) -> Result:
    env = {"FINSENT_ELASTICSEARCH__INDEX_PREFIX": prefix}
    return CliRunner().invoke(build_app(), ["report", *args], env=env)


def test_report_draws_the_keys_with_most_negatives(
    settings: Settings, es: Elasticsearch, unique: str, tmp_path: Path
) -> None:
    index_fixture(es, unique)
    since, until = NOW - timedelta(hours=24), NOW + timedelta(hours=1)
    items = fetch_items(es, unique, since, until)
    assert len(items.docs) == 48 and not items.truncated
    frame = item_frame(items.docs)
    keys = rank_keys(frame, 2, 1)
    assert keys == ["ticker:HOT", "ticker:MID", "topic:Earnings"], "negatives, not item count"
    marks = fetch_alerts(es, unique, since, until, keys)
    assert [(m.key, m.end) for m in marks] == [("ticker:HOT", T0 + timedelta(minutes=75))]

    image = tmp_path / "report.png"
    result = report(unique, "--since", "24h", "-o", str(image),
                    "--tickers", "2", "--topics", "1")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "3 keys (ticker:HOT, ticker:MID, topic:Earnings), 1 alerts marked" in result.output
    assert "--max-items" not in result.output

    capped = report(unique, "-o", str(tmp_path / "capped.png"), "--max-items", "10")
    assert capped.exit_code == 0, capped.output
    assert "read only the newest 10 items" in capped.output


def test_report_without_items_says_so(settings: Settings, unique: str, tmp_path: Path) -> None:
    result = report(unique, "-o", str(tmp_path / "none.png"))
    assert result.exit_code == 1
    assert f"no items in {unique}-items" in result.output
    assert not (tmp_path / "none.png").exists()
