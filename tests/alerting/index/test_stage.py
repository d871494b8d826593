"""The index handler on in-memory doubles: items to the sink, rejections dead-lettered."""

from __future__ import annotations

from datetime import UTC, datetime

from kafka import TopicPartition

from alerting.index.stage import IndexHandler
from alerting.index.testing import ListSink
from finsent.config import Settings
from finsent.kafka import AckedProducer
from finsent.schemas import (
    WATERMARK_KEY,
    DeadLetter,
    ScoredItem,
    ScoredProgress,
    decode,
    encode,
)
from finsent.stage.loop import LoopOptions, StageLoop
from finsent.testing import FakeConsumer, FakeProducer
from tests.builders import scored_item

TOPICS = Settings().kafka.topics
T0 = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)


def scored(n: int) -> ScoredItem:
    return scored_item(n, T0, negative=False, topic="Macro")


def test_items_are_indexed_markers_skipped_and_rejections_dead_lettered_before_the_commit() -> None:
    journal: list[str] = []
    consumer = FakeConsumer({TOPICS.scored: 1}, journal)
    producer = FakeProducer(journal)
    sink = ListSink()
    sink.refuse["item-2"] = "mapper_parsing_exception"
    handler = IndexHandler()
    handler.sink = sink
    options = LoopOptions(stage="index", topics=[TOPICS.scored],
                          deadletter_topic=TOPICS.deadletter, ack_timeout_s=1)  # fmt: skip
    loop = StageLoop(consumer, AckedProducer(producer), handler, options)
    loop.subscribe()
    for n in range(4):
        consumer.add(TOPICS.scored, 0, encode(scored(n)), key=f"item-{n}".encode())
    marker = ScoredProgress(raw_partitions=1, busy=[], idle=[0], sent_at=T0)
    consumer.add(TOPICS.scored, 0, encode(marker), key=WATERMARK_KEY)
    consumer.add(TOPICS.scored, 0, b'{"schema_version": 1, "id": "x"}', key=b"poison")
    loop.run_once()
    assert [i.id for i in sink.flushed] == ["item-0", "item-1", "item-3"]
    letters = [decode(DeadLetter, v) for v in producer.values(TOPICS.deadletter)]
    assert [(d.offset, d.reason.split(":")[0].split(" ")[0]) for d in letters] == [
        (5, "ScoredItem.source"),
        (2, "elasticsearch"),
    ]
    assert journal[-2:] == ["flush", "commit 0:6"]
    assert consumer.committed_offsets == {TopicPartition(TOPICS.scored, 0): 6}
