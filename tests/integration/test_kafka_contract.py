"""The message contract survives a real Kafka round trip; poison stays a typed error."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from typing import Any

from kafka.errors import MessageSizeTooLargeError

from finsent.config import Settings
from finsent.kafka import acknowledged, close_producer, ensure_topics, make_consumer, make_producer
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


def split_batch(settings: Settings, topic: str, max_message_bytes: int) -> tuple[Any, list[Any]]:
    """32 incompressible 200-byte sends in one batch to a topic that refuses the batch whole.

    The brokers answer MESSAGE_TOO_LARGE, and kafka-python splits the batch in halves until
    each fits (or a single record is still too large, then it fails).
    """
    ensure_topics(settings.kafka, [topic], {topic: {"max.message.bytes": str(max_message_bytes)}})
    producer = make_producer(settings.kafka)
    producer.partitions_for(topic)  # metadata first: the sends then share one batch
    return producer, [producer.send(topic, value=os.urandom(200)) for _ in range(32)]


def test_sends_acknowledged_after_their_batch_was_split_pass(
    settings: Settings, unique: str
) -> None:
    # kafka-python's flush wakes on the old batch of a split, which never completes, and
    # raised UnknownError('Future not done'): a round whose every send was acknowledged failed.
    producer, futures = split_batch(settings, f"{unique}.fits", max_message_bytes=400)
    try:
        acknowledged(producer, futures, timeout_s=30)
        assert all(future.succeeded() for future in futures)
    finally:
        close_producer(producer, timeout_s=30)


def test_a_producer_closes_while_its_refused_batch_is_split(
    settings: Settings, unique: str
) -> None:
    # kafka-python's close raised out of the same flush and left its sender thread running.
    producer, futures = split_batch(settings, f"{unique}.small", max_message_bytes=100)
    close_producer(producer, timeout_s=30)
    assert not producer._sender.is_alive(), "the sender thread is stopped"
    assert all(future.is_done for future in futures), "the flush waited out every split"
    assert all(isinstance(future.exception, MessageSizeTooLargeError) for future in futures)
