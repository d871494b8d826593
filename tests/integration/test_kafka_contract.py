"""The message contract survives a real Kafka round trip; poison stays a typed error."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from finsent.config import Settings
from finsent.kafka import ensure_topics, make_consumer, make_producer
from finsent.schemas import (
    Alert,
    Prediction,
    RawItem,
    SchemaError,
    ScoredItem,
    SentimentPrediction,
    decode,
    encode,
    make_item_id,
)

T0 = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)


def items(n: int) -> list[ScoredItem]:
    out = []
    for i in range(n):
        url = f"https://news.example/{i}"
        out.append(
            ScoredItem(
                id=make_item_id("wire", url),
                source="wire",
                kind="news" if i % 2 else "comment",
                title=f"Headline {i} — élan ünïcode",
                text="body",
                url=url,
                published_at=T0 + timedelta(seconds=i),
                fetched_at=T0 + timedelta(seconds=i + 1),
                symbols=["AAPL"],
                sentiment=SentimentPrediction(
                    label="negative", scores={"negative": 0.8, "neutral": 0.1, "positive": 0.1}
                ),
                topic=Prediction(label="Markets", scores={"Markets": 0.9}),
                tickers=["AAPL", "MSFT"],
                model="test@1",
                classified_at=T0 + timedelta(seconds=i + 2),
            )
        )
    return out


def test_contract_round_trip_through_a_topic(settings: Settings, unique: str) -> None:
    topic = f"{unique}.scored"
    assert ensure_topics(settings.kafka, [topic]) == [topic]
    assert ensure_topics(settings.kafka, [topic]) == [], "second call creates nothing"
    sent = items(20)
    alert = Alert(
        id="a-1", incident_id="i-1", rule="surge", key="ticker:AAPL", status="firing", window_start=T0,
        window_end=T0 + timedelta(minutes=5), observed=10, expected=2, ratio=5, p_value=0.001,
        severity="high", created_at=T0,
    )  # fmt: skip
    producer = make_producer(settings.kafka)
    for item in sent:
        producer.send(topic, key=item.id.encode(), value=encode(item))
    producer.send(topic, key=b"poison", value=b'{"schema_version": 99, "id": "x"}')
    producer.send(topic, key=b"alert", value=encode(alert))
    producer.flush(timeout=30)
    producer.close()

    consumer = make_consumer(settings.kafka, f"{unique}-g", topic, consumer_timeout_ms=10_000)
    received: list[ScoredItem] = []
    errors: list[SchemaError] = []
    alerts: list[Alert] = []
    for record in consumer:
        if record.key == b"alert":
            alerts.append(decode(Alert, record.value))
        else:
            try:
                received.append(decode(ScoredItem, record.value))
            except SchemaError as exc:
                errors.append(exc)
        if len(received) + len(errors) + len(alerts) == len(sent) + 2:
            break
    consumer.close()

    assert sorted(received, key=lambda i: i.id) == sorted(sent, key=lambda i: i.id)
    assert alerts == [alert]
    assert len(errors) == 1 and "schema_version" in errors[0].reason
    assert json.loads(errors[0].payload or b"{}")["schema_version"] == 99
    # A ScoredItem is a valid RawItem for a consumer that only needs the raw fields.
    assert isinstance(decode(RawItem, encode(sent[0])), RawItem)
