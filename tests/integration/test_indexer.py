"""scored topic -> IndexStage -> Elasticsearch: every item exactly once, poison dead-lettered."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from alerting.index.stage import IndexStage
from finsent.config import Settings
from finsent.es import make_client
from finsent.kafka import ensure_topics, make_consumer, make_producer
from finsent.schemas import (
    DeadLetter,
    Prediction,
    ScoredItem,
    SentimentPrediction,
    decode,
    encode,
    make_item_id,
)

T0 = datetime(2026, 3, 2, 22, 0, tzinfo=UTC)


def scored(i: int) -> ScoredItem:
    return ScoredItem(
        id=make_item_id("wire", str(i)), source="wire", kind="news", title=f"Headline {i}",
        published_at=T0 + timedelta(hours=i % 4), fetched_at=T0 + timedelta(hours=4),
        sentiment=SentimentPrediction(label="negative", scores={"negative": 0.7, "neutral": 0.2, "positive": 0.1}),
        topic=Prediction(label="Markets", scores={"Markets": 0.9}), tickers=["AAPL"], model="m@1",
        classified_at=T0 + timedelta(hours=4),
    )  # fmt: skip


def test_every_item_indexed_exactly_once(settings: Settings, unique: str) -> None:
    topics = settings.kafka.topics.model_copy(
        update={"scored": f"{unique}.scored", "deadletter": f"{unique}.dlq"}
    )
    isolated = settings.model_copy(update={
        "kafka": settings.kafka.model_copy(update={"topics": topics}),
        "elasticsearch": settings.elasticsearch.model_copy(update={"index_prefix": unique}),
    })  # fmt: skip
    ensure_topics(isolated.kafka, [topics.scored, topics.deadletter])
    items = [scored(i) for i in range(60)]
    producer = make_producer(isolated.kafka)
    for it in items + items[:10]:  # a replay of the first ten
        producer.send(topics.scored, key=it.id.encode(), value=encode(it))
    producer.send(topics.scored, key=b"poison", value=b'{"schema_version": 1, "id": "x"}')
    producer.flush(30)
    producer.close()

    stage = IndexStage(isolated)
    stage.setup()
    es = make_client(isolated.elasticsearch)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            stage.run_once()
            es.indices.refresh(index=f"{unique}-items")
            if es.count(index=f"{unique}-items")["count"] >= 60:
                break
        for _ in range(3):
            stage.run_once()
        es.indices.refresh(index=f"{unique}-items")
        count = es.count(index=f"{unique}-items")["count"]
        indices = sorted(es.indices.get(index=f"{unique}-items-*"))
    finally:
        stage.close()
        for name in list(es.indices.get(index=f"{unique}-*", allow_no_indices=True)):
            es.indices.delete(index=name)
        for name in ("items", "alerts"):
            es.options(ignore_status=404).indices.delete_index_template(name=f"{unique}-{name}")
    assert count == 60, "the replayed ten did not duplicate (same _id)"
    assert indices == [f"{unique}-items-2026.03.02", f"{unique}-items-2026.03.03"]
    consumer = make_consumer(isolated.kafka, None, topics.deadletter, consumer_timeout_ms=5000)
    dead = [decode(DeadLetter, r.value) for r in consumer]
    consumer.close()
    assert len(dead) == 1 and dead[0].stage == "index" and "ScoredItem" in dead[0].reason
