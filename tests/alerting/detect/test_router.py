"""The alert router on in-memory Kafka doubles: event-time order, upstream markers, commits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from kafka import TopicPartition

from alerting.detect.router import ALIGN_IDLE_S, MAX_BUFFERED, RouterHandler
from alerting.detect.upstream import UpstreamProgress
from finsent.align import EventTimeAligner
from finsent.config import Settings
from finsent.kafka import AckedProducer
from finsent.schemas import (
    WATERMARK_KEY,
    KeyedItem,
    KeyedWatermark,
    ScoredItem,
    ScoredProgress,
    decode,
    encode,
)
from finsent.stage.loop import LoopOptions, StageLoop
from finsent.testing import FakeConsumer, FakeProducer
from tests.builders import scored_item

SETTINGS = Settings()
TOPICS = SETTINGS.kafka.topics
T0 = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)


def scored(n: int, minute: int) -> ScoredItem:
    return scored_item(n, T0 + timedelta(minutes=minute))


def router() -> tuple[StageLoop[object], RouterHandler, FakeConsumer, FakeProducer]:
    journal: list[str] = []
    consumer = FakeConsumer({TOPICS.scored: 2, TOPICS.keyed: 2}, journal)
    producer = FakeProducer(journal)
    handler = RouterHandler(SETTINGS)
    options = LoopOptions(stage="alert-router", topics=[TOPICS.scored],
                          deadletter_topic=TOPICS.deadletter, ack_timeout_s=1)  # fmt: skip
    loop: StageLoop[object] = StageLoop(consumer, AckedProducer(producer), handler, options)  # type: ignore[arg-type]
    loop.subscribe()
    handler.keyed_partitions = 2
    handler.upstream = UpstreamProgress(2, clock=lambda: T0 + timedelta(seconds=3))
    handler.aligner = EventTimeAligner(consumer, ALIGN_IDLE_S, MAX_BUFFERED,
                                       upstream_busy=handler.upstream.busy)  # fmt: skip
    return loop, handler, consumer, producer


def keyed(producer: FakeProducer) -> list[KeyedItem]:
    return [
        decode(KeyedItem, s.value)
        for s in producer.sent
        if s.topic == TOPICS.keyed and s.key != WATERMARK_KEY and s.value is not None
    ]


def progress(busy: list[int], idle: list[int], second: int) -> bytes:
    at = T0 + timedelta(seconds=second)
    return encode(ScoredProgress(raw_partitions=2, busy=busy, idle=idle, sent_at=at))


def test_items_of_both_partitions_are_released_in_event_time_order() -> None:
    loop, _, consumer, producer = router()
    for n, minute in enumerate([0, 2, 4]):
        consumer.add(TOPICS.scored, 0, encode(scored(n, minute)))
    for n, minute in enumerate([1, 3]):
        consumer.add(TOPICS.scored, 1, encode(scored(10 + n, minute)))
    loop.run_once()
    times = [e.published_at for e in keyed(producer) if e.key == "ticker:ACME"]
    assert times == sorted(times) and len(times) == 5
    origins = {e.item_id: e.origin for e in keyed(producer) if e.key == "ticker:ACME"}
    assert origins["item-0"] == 0 and origins["item-10"] == 1
    markers = [s for s in producer.sent if s.key == WATERMARK_KEY]
    assert {s.partition for s in markers} == {0, 1}, "a marker into every keyed partition"
    assert decode(KeyedWatermark, markers[0].value or b"").progress == T0 + timedelta(minutes=4)


def test_a_busy_classifier_marker_holds_the_partition_back_and_the_commit_with_it() -> None:
    loop, handler, consumer, producer = router()
    scored0 = TopicPartition(TOPICS.scored, 0)
    consumer.add(TOPICS.scored, 0, encode(scored(0, 0)))
    consumer.add(TOPICS.scored, 0, encode(scored(1, 5)))
    # raw partition 1 (which feeds scored partition 1) still has records to classify
    consumer.add(TOPICS.scored, 1, progress(busy=[1], idle=[0], second=1), key=WATERMARK_KEY)
    loop.run_once()
    assert keyed(producer) == [], "scored partition 1 may still get older items: wait"
    assert handler.upstream.busy(TopicPartition(TOPICS.scored, 1))
    assert consumer.committed_offsets.get(scored0, 0) == 0, "held items are not committed"
    consumer.add(TOPICS.scored, 1, encode(scored(2, 3)))
    consumer.add(TOPICS.scored, 1, progress(busy=[], idle=[0, 1], second=2), key=WATERMARK_KEY)
    loop.run_once()
    loop.run_once()
    ids = [e.item_id for e in keyed(producer) if e.key == "ticker:ACME"]
    assert ids == ["item-0", "item-2", "item-1"]
    assert consumer.committed_offsets[scored0] == 2
    assert consumer.committed_offsets[TopicPartition(TOPICS.scored, 1)] == 3


def test_an_older_report_never_overrides_a_newer_one() -> None:
    upstream = UpstreamProgress(2, clock=lambda: T0)
    upstream.update(ScoredProgress(raw_partitions=2, busy=[], idle=[1],
                                   sent_at=T0 + timedelta(seconds=5)))  # fmt: skip
    upstream.update(ScoredProgress(raw_partitions=2, busy=[1], idle=[], sent_at=T0))
    assert not upstream.busy(TopicPartition(TOPICS.scored, 1))
    other = UpstreamProgress(3, clock=lambda: T0)  # other counts: any busy raw partition
    other.update(ScoredProgress(raw_partitions=2, busy=[0], idle=[1], sent_at=T0))
    assert other.busy(TopicPartition(TOPICS.scored, 2))


def test_the_new_owners_report_wins_whatever_the_clocks_say() -> None:
    upstream = UpstreamProgress(2, clock=lambda: T0)
    fast_clock = T0 + timedelta(seconds=60)  # the old owner's clock runs a minute ahead
    upstream.update(ScoredProgress(raw_partitions=2, busy=[], idle=[1], sent_at=fast_clock,
                                   generation=4))  # fmt: skip
    upstream.update(ScoredProgress(raw_partitions=2, busy=[1], idle=[], sent_at=T0,
                                   generation=5))  # fmt: skip
    assert upstream.busy(TopicPartition(TOPICS.scored, 1))


def test_a_stale_report_counts_as_busy_and_no_report_as_idle() -> None:
    now = [T0]
    upstream = UpstreamProgress(2, clock=lambda: now[0])
    assert not upstream.busy(TopicPartition(TOPICS.scored, 0)), "no classifier reports"
    upstream.update(ScoredProgress(raw_partitions=2, busy=[], idle=[0, 1], sent_at=T0))
    assert not upstream.busy(TopicPartition(TOPICS.scored, 0))
    now[0] = T0 + timedelta(seconds=31)  # its classifier stopped reporting
    assert upstream.busy(TopicPartition(TOPICS.scored, 0))
