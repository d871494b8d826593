"""The classify handler on in-memory Kafka doubles: scoring, dead letters, progress markers."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from kafka import TopicPartition

from classifier import consumer as classify
from classifier.consumer import ClassifyHandler
from classifier.engine import Engine
from classifier.entities import TickerTagger
from finsent.align import EventTimeAligner
from finsent.config import Settings
from finsent.kafka import AckedProducer
from finsent.schemas import (
    WATERMARK_KEY,
    DeadLetter,
    RawItem,
    ScoredItem,
    ScoredProgress,
    decode,
    encode,
    make_item_id,
)
from finsent.stage.loop import LoopOptions, StageLoop
from finsent.testing import FakeConsumer, FakeProducer

SETTINGS = Settings()
TOPICS = SETTINGS.kafka.topics
T0 = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)


def item(i: int, title: str = "Apple shares move") -> bytes:
    url = f"https://news.example/{i}"
    return encode(RawItem(id=make_item_id("wire", url), source="wire", kind="news", title=title,
                          url=url, published_at=T0, fetched_at=T0))  # fmt: skip


@pytest.fixture
def member(
    tiny_model_dir: Path,
) -> tuple[StageLoop[RawItem], ClassifyHandler, FakeConsumer, FakeProducer]:
    consumer = FakeConsumer({TOPICS.raw: 2, TOPICS.scored: 2})
    producer = FakeProducer()
    handler = ClassifyHandler(SETTINGS, Engine.from_folder(tiny_model_dir, device="cpu"),
                              TickerTagger())  # fmt: skip
    options = LoopOptions(stage="classify", topics=[TOPICS.raw],
                          deadletter_topic=TOPICS.deadletter, ack_timeout_s=1)  # fmt: skip
    loop = StageLoop(consumer, AckedProducer(producer), handler, options)
    loop.subscribe()
    handler.aligner = EventTimeAligner(consumer)
    handler.raw_partitions = handler.scored_partitions = 2
    return loop, handler, consumer, producer


def markers(producer: FakeProducer) -> list[tuple[int | None, ScoredProgress]]:
    return [
        (s.partition, decode(ScoredProgress, s.value or b""))
        for s in producer.sent
        if s.topic == TOPICS.scored and s.key == WATERMARK_KEY
    ]


def test_items_are_scored_poison_dead_lettered_and_progress_follows_the_items(
    member: tuple[StageLoop[RawItem], ClassifyHandler, FakeConsumer, FakeProducer],
) -> None:
    loop, _, consumer, producer = member
    for i in range(5):
        consumer.add(TOPICS.raw, i % 2, item(i))
    consumer.add(TOPICS.raw, 0, b"{not json")
    consumer.add(TOPICS.raw, 1, item(9, title=" "))
    loop.run_once()
    scored = [
        decode(ScoredItem, s.value or b"")
        for s in producer.sent
        if s.topic == TOPICS.scored and s.key != WATERMARK_KEY
    ]
    assert len(scored) == 5 and all(s.sentiment.label for s in scored)
    reasons = [decode(DeadLetter, v).reason for v in producer.values(TOPICS.deadletter)]
    assert [r.split(":")[0] for r in reasons] == ["not valid JSON", "nothing to classify"]
    sent = [s.key for s in producer.sent if s.topic == TOPICS.scored]
    assert sent[-2:] == [WATERMARK_KEY, WATERMARK_KEY], "markers come after the round's items"
    assert [(p, m.busy, m.idle) for p, m in markers(producer)] == [
        (0, [0, 1], []), (1, [0, 1], []),  # before the scoring: wait for these items
        (0, [], [0, 1]), (1, [], [0, 1]),  # after them: all there
    ]  # fmt: skip
    assert consumer.committed_offsets == {TopicPartition(TOPICS.raw, 0): 4,
                                          TopicPartition(TOPICS.raw, 1): 3}  # fmt: skip


def test_a_marker_is_sent_on_a_change_and_as_a_heartbeat_only(
    member: tuple[StageLoop[RawItem], ClassifyHandler, FakeConsumer, FakeProducer],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    loop, handler, consumer, producer = member
    consumer.add(TOPICS.raw, 0, item(0))
    loop.run_once()
    assert len(markers(producer)) == 4, "busy before the scoring, idle after it"
    for _ in range(3):
        handler.last_progress = 0.0  # due for a check, but nothing changed
        loop.run_once()
    assert len(markers(producer)) == 4
    monkeypatch.setattr(classify, "PROGRESS_HEARTBEAT_S", 0.0)
    handler.last_progress = 0.0
    loop.run_once()
    assert len(markers(producer)) == 6, "the heartbeat repeats the report"


def test_a_partition_with_early_fetched_records_is_reported_busy(
    member: tuple[StageLoop[RawItem], ClassifyHandler, FakeConsumer, FakeProducer],
) -> None:
    loop, handler, consumer, producer = member
    consumer.add(TOPICS.raw, 0, item(0))
    loop.run_once()
    consumer.add(TOPICS.raw, 1, item(1))
    loop._early = [r for rs in consumer.poll().values() for r in rs]  # a keep-alive poll
    handler.send_progress()
    _, last = markers(producer)[-1]
    assert last.busy == [1], "its records wait for the next round: not idle"
