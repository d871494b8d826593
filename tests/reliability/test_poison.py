"""Poison records on the real Kafka: dead-lettered once, with their bytes, and the stage goes on.

Findings 1 and 5 of the hardening issue: a 5 MB record (gzip let the broker take it) made
the classifier fail producing its scored item and crash-loop; binary payloads lost their
bytes in the dead letter; a restart dead-lettered the same records again.
"""

from __future__ import annotations

import gzip
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kafka import TopicPartition

from classifier.consumer import ClassifyConsumer
from classifier.engine import Engine
from classifier.entities import TickerTagger
from finsent.config import Settings
from finsent.kafka import ensure_topics, group_lag, make_admin, make_consumer, make_producer
from finsent.schemas import DeadLetter, KeyedWatermark, RawItem, decode, encode, make_item_id
from finsent.stage.handler import Handler, Received
from finsent.stage.loop import LoopOptions, StageLoop
from tests.integration.conftest import isolate, read_topic
from tests.wait import wait_until

T0 = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)


def raw(i: int, text: str = "traders react") -> RawItem:
    url = f"https://news.example/{i}"
    return RawItem(id=make_item_id("wire", url), source="wire", kind="news",
                   title=f"Apple shares move on day {i}", text=text, url=url, published_at=T0,
                   fetched_at=T0)  # fmt: skip


def lag(settings: Settings, group: str, topic: str) -> int:
    admin = make_admin(settings.kafka)
    consumer = make_consumer(settings.kafka, None)
    try:
        return sum(group_lag(admin, consumer, group, topic).values())
    finally:
        consumer.close()
        admin.close()


def test_a_huge_and_a_binary_record_are_dead_lettered_and_classification_goes_on(
    settings: Settings, unique: str, tiny_model_dir: Path
) -> None:
    config = isolate(settings, unique)
    options = config.classifier.model_copy(update={"max_batch_items": 8})
    config = config.model_copy(update={"classifier": options})
    topics = config.kafka.topics
    ensure_topics(config.kafka, [topics.raw, topics.scored, topics.deadletter])
    huge = raw(99, text="bad news " * 600_000)  # 5.4 MB of text, a few KB gzipped
    assert len(encode(huge)) > 5_000_000 and len(gzip.compress(encode(huge))) < 100_000
    binary = bytes(range(256)) * 8
    producer = make_producer(config.kafka, max_request_size=8 * 1024 * 1024)
    items = [raw(i) for i in range(20)]
    for item in items[:10]:
        producer.send(topics.raw, key=item.id.encode(), value=encode(item), partition=0)
    producer.send(topics.raw, key=huge.id.encode(), value=encode(huge), partition=0)
    producer.send(topics.raw, key=b"binary", value=binary, partition=0)
    for item in items[10:]:
        producer.send(topics.raw, key=item.id.encode(), value=encode(item), partition=0)
    producer.flush(30)
    producer.close()

    member = ClassifyConsumer(config, Engine.from_folder(tiny_model_dir, device="cpu"),
                              TickerTagger())  # fmt: skip
    member.setup()
    stop = threading.Event()
    thread = threading.Thread(target=member.run, args=(stop,), daemon=True)
    thread.start()
    try:
        wait_until(lambda: lag(config, options.group_id, topics.raw) == 0
                   and len(read_topic(config, topics.scored)) >= 20, 120,
                   "every record done and every good item scored")  # fmt: skip
    finally:
        stop.set()
        thread.join(30)
        member.close()
    assert thread.is_alive() is False
    scored = {decode(RawItem, v).id for v in read_topic(config, topics.scored)}
    assert scored == {i.id for i in items}, "the items after the poison records were scored too"
    letters = {d.offset: d for d in (decode(DeadLetter, v)
                                     for v in read_topic(config, topics.deadletter))}  # fmt: skip
    assert sorted(letters) == [10, 11], "each poison record dead-lettered once"
    assert letters[10].reason.startswith(f"output to {topics.scored} refused")
    assert letters[10].truncated and letters[10].payload_size == len(encode(huge))
    assert encode(huge).startswith(letters[10].original())
    assert letters[11].payload_encoding == "base64" and letters[11].original() == binary


class Holding(Handler[KeyedWatermark]):
    """Holds (never finishes) the first record it sees; everything else is done."""

    schema = KeyedWatermark

    def __init__(self) -> None:
        self.first: int | None = None
        self.seen: list[int] = []

    def handle(self, batch: Sequence[Received[KeyedWatermark]]) -> None:
        for received in batch:
            self.seen.append(received.offset)
            if self.first is None:
                self.first = received.offset

    def held(self, tp: Any) -> int | None:
        return self.first


def test_a_dead_letter_is_remembered_in_the_commit_and_not_repeated_after_a_restart(
    settings: Settings, unique: str
) -> None:
    topic, dlq, group = f"{unique}.in", f"{unique}.dlq", f"{unique}-holding"
    config = settings.kafka.model_copy(update={"topic_partitions": 1})
    ensure_topics(config, [topic, dlq])
    producer = make_producer(config)
    producer.send(topic, value=encode(KeyedWatermark(busy=[0], idle=[])))
    producer.send(topic, value=b"{poison")
    producer.send(topic, value=encode(KeyedWatermark(busy=[2], idle=[])))
    producer.flush(30)
    producer.close()
    options = LoopOptions(stage="holding", topics=[topic], deadletter_topic=dlq, ack_timeout_s=30)

    def run_member() -> Holding:
        handler = Holding()
        loop = StageLoop.connect(config, group, handler, options)
        try:
            wait_until(lambda: loop.run_once() is not None and len(handler.seen) >= 2, 60,
                       "both good records handed in")  # fmt: skip
        finally:
            loop.close()
        return handler

    first = run_member()
    second = run_member()  # a restart: re-reads from the held record
    assert first.seen == [0, 2] and second.seen == [0, 2]
    letters = [decode(DeadLetter, v) for v in read_topic(settings, dlq)]
    assert [d.offset for d in letters] == [1], "dead-lettered once, not again after the restart"
    reader = make_consumer(config, group)
    try:
        committed = reader.committed(TopicPartition(topic, 0), metadata=True)
    finally:
        reader.close()
    assert (committed.offset, committed.metadata) == (0, "dead:1")
