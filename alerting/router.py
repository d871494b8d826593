"""Scored items -> one KeyedItem per alert key, keyed by that key (repartitioning).

The detectors need every item of a key on one partition; the scored topic is keyed by item
id. The router re-publishes each item once per key with the key as the Kafka key, then
commits. A replay re-sends the same entries; the detector counts stories, so a repeated
entry of a story changes nothing.

Records are released in ``published_at`` order across the scored partitions it owns
(``finsent.align``), so a backlog does not make the detectors drop entries as late, and
progress markers tell every keyed partition how far this router has got.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from kafka.errors import KafkaError

from alerting.upstream import UpstreamWatch
from alerting.windows import keyed_items
from finsent import telemetry
from finsent.align import EventTimeAligner
from finsent.config import Settings
from finsent.kafka import AckedProducer, dead_letter, make_consumer, make_producer, partition_count
from finsent.logs import get_logger
from finsent.schemas import (
    WATERMARK_KEY,
    KeyedWatermark,
    SchemaError,
    ScoredItem,
    decode,
    encode,
)

STAGE = "alert-router"
ALIGN_IDLE_S = 5.0
MAX_BUFFERED = 20_000
MARKER_INTERVAL_S = 0.5


class AlertRouter:
    """One member of the router consumer group."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.log = get_logger(STAGE)
        self.consumer: Any = None
        self.producer: Any = None
        self.routed = 0
        self.aligner: EventTimeAligner[ScoredItem] = EventTimeAligner(None)
        self.progress: datetime | None = None  # published_at of the last released item
        self.last_marker = 0.0
        self.keyed_partitions = 0
        self.upstream = UpstreamWatch(settings, None)

    def setup(self) -> None:
        """Join the router group on the scored topic."""
        topics = self.settings.kafka.topics
        self.consumer = make_consumer(
            self.settings.kafka, f"{self.settings.alerting.group_id}-router", topics.scored,
            max_poll_records=1000,
        )  # fmt: skip
        self.producer = AckedProducer(make_producer(self.settings.kafka))
        self.keyed_partitions = partition_count(self.consumer, topics.keyed)
        self.upstream.consumer = self.consumer
        self.aligner = EventTimeAligner(
            self.consumer, ALIGN_IDLE_S, MAX_BUFFERED, upstream_busy=self.upstream.busy
        )

    def run_once(self, timeout_ms: int = 200) -> int:
        """Buffer one poll, release what is aligned, flush, commit; returns entries produced."""
        topics = self.settings.kafka.topics
        batches = self.consumer.poll(timeout_ms=timeout_ms)
        self.upstream.refresh()
        for tp, records in batches.items():
            for record in records:
                try:
                    item = decode(ScoredItem, record.value)
                except SchemaError as exc:
                    dead_letter(self.producer, topics.deadletter, STAGE, record, exc.reason)
                    telemetry.DEAD_LETTERS.labels(STAGE).inc()
                    self.log.warning("dead-lettered", reason=exc.reason[:300], offset=record.offset)
                    continue
                self.aligner.add(tp, item.published_at, record, item)
        released = list(self.aligner.release())
        produced = 0
        for tp, _, item in released:
            for entry in keyed_items(item, origin=tp.partition):
                self.producer.send(topics.keyed, key=entry.key.encode(), value=encode(entry))
                produced += 1
            at = item.published_at
            self.progress = at if self.progress is None else max(self.progress, at)
        now = time.monotonic()
        if now - self.last_marker >= MARKER_INTERVAL_S:
            self._send_marker(set(self.consumer.assignment()))
            self.last_marker = now
        if released or batches:
            self.producer.acknowledge(self.settings.kafka.request_timeout_ms / 1000)
        if released:
            try:
                self.consumer.commit(self.aligner.offsets(released))
            except KafkaError as exc:  # lost the partitions meanwhile: they are re-read
                self.log.warning("commit failed", error=str(exc))
        self.aligner.pause_full()
        self.routed += produced
        telemetry.PROCESSED.labels(STAGE).inc(produced)
        return produced

    def _send_marker(self, assigned: set[Any]) -> None:
        """Tell every keyed partition how far this router's scored partitions have got."""
        if not assigned:
            return
        busy: list[int] = []
        idle: list[int] = []
        for tp in assigned:
            caught_up = (
                self.aligner.caught_up(tp)
                and not self.aligner.buffered(tp)
                and not self.upstream.busy(tp)
            )
            (idle if caught_up else busy).append(tp.partition)
        marker = KeyedWatermark(busy=sorted(busy), idle=sorted(idle), progress=self.progress)
        value = encode(marker)
        for partition in range(self.keyed_partitions):
            self.producer.send(
                self.settings.kafka.topics.keyed, key=WATERMARK_KEY, value=value,
                partition=partition,
            )  # fmt: skip

    def close(self) -> None:
        """Leave the group."""
        self.upstream.close()
        if self.consumer is not None:
            self.consumer.close()
        if self.producer is not None:
            self.producer.close()
