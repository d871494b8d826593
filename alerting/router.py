"""Scored items -> one KeyedItem per alert key, keyed by that key (repartitioning).

The detectors need every item of a key on one partition; the scored topic is keyed by item
id. The router re-publishes each item once per key with the key as the Kafka key, then
commits. A replay re-sends the same entries; the detector counts stories, so a repeated
entry of a story changes nothing.

Event-time alignment: a backlog read from several scored partitions would arrive one
partition's hours after another's, and the detectors would drop the later ones as late.
So records are buffered per partition and released in ``published_at`` order, and only
while every partition that still has unread records has some buffered (Kafka Streams does
the same per task); a partition silent for ``ALIGN_IDLE_S`` stops holding the others back.
Offsets are committed up to the records released.
"""

from __future__ import annotations

import heapq
import time
from collections import deque
from datetime import datetime
from typing import Any

from kafka import OffsetAndMetadata
from kafka.errors import KafkaError

from alerting.windows import keyed_items
from finsent import telemetry
from finsent.config import Settings
from finsent.kafka import dead_letter, make_consumer, make_producer, partition_count
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
        self.buffers: dict[Any, deque[tuple[datetime, Any, ScoredItem]]] = {}
        self.last_data: dict[Any, float] = {}
        self.progress: datetime | None = None  # published_at of the last released item
        self.last_marker = 0.0
        self.keyed_partitions = 0

    def setup(self) -> None:
        """Join the router group on the scored topic."""
        topics = self.settings.kafka.topics
        self.consumer = make_consumer(
            self.settings.kafka, f"{self.settings.alerting.group_id}-router", topics.scored,
            max_poll_records=1000,
        )  # fmt: skip
        self.producer = make_producer(self.settings.kafka)
        self.keyed_partitions = partition_count(self.consumer, topics.keyed)

    def run_once(self, timeout_ms: int = 200) -> int:
        """Buffer one poll, release what is aligned, flush, commit; returns entries produced."""
        topics = self.settings.kafka.topics
        batches = self.consumer.poll(timeout_ms=timeout_ms)
        now = time.monotonic()
        for tp, records in batches.items():
            buffer = self.buffers.setdefault(tp, deque())
            self.last_data[tp] = now
            for record in records:
                try:
                    item = decode(ScoredItem, record.value)
                except SchemaError as exc:
                    dead_letter(self.producer, topics.deadletter, STAGE, record, exc.reason)
                    telemetry.DEAD_LETTERS.labels(STAGE).inc()
                    self.log.warning("dead-lettered", reason=exc.reason[:300], offset=record.offset)
                    continue
                buffer.append((item.published_at, record, item))
        assigned = set(self.consumer.assignment())
        for tp in list(self.buffers):
            if tp not in assigned:  # revoked: the new owner re-reads the uncommitted records
                del self.buffers[tp]
        produced, offsets = self._release(assigned, now)
        if now - self.last_marker >= MARKER_INTERVAL_S:
            self._send_marker(assigned)
            self.last_marker = now
        if produced or batches:
            self.producer.flush(timeout=self.settings.kafka.request_timeout_ms / 1000)
        if offsets:
            try:
                self.consumer.commit(offsets)
            except KafkaError as exc:  # lost the partitions meanwhile: they are re-read
                self.log.warning("commit failed", error=str(exc))
        self._pause_full()
        self.routed += produced
        telemetry.PROCESSED.labels(STAGE).inc(produced)
        return produced

    def _holding_back(self, assigned: set[Any], now: float) -> bool:
        """A partition with unread records but nothing buffered: wait for it (a while)."""
        for tp in assigned:
            if self.buffers.get(tp):
                continue
            highwater = self.consumer.highwater(tp)
            behind = highwater is None or self.consumer.position(tp) < highwater
            if behind and now - self.last_data.get(tp, 0.0) < ALIGN_IDLE_S:
                return True
        return False

    def _release(self, assigned: set[Any], now: float) -> tuple[int, dict[Any, Any]]:
        topics = self.settings.kafka.topics
        produced = 0
        offsets: dict[Any, Any] = {}
        if self._holding_back(assigned, now):
            return produced, offsets
        heap = [(buf[0][0], i, tp) for i, (tp, buf) in enumerate(self.buffers.items()) if buf]
        heapq.heapify(heap)
        while heap:
            _, i, tp = heapq.heappop(heap)
            buffer = self.buffers[tp]
            if not buffer:
                continue
            at, record, item = buffer.popleft()
            for entry in keyed_items(item, origin=tp.partition):
                self.producer.send(topics.keyed, key=entry.key.encode(), value=encode(entry))
                produced += 1
            self.progress = at if self.progress is None else max(self.progress, at)
            offsets[tp] = OffsetAndMetadata(record.offset + 1, "", -1)
            if buffer:
                heapq.heappush(heap, (buffer[0][0], i, tp))
            elif self._holding_back(assigned, now):
                break  # this partition ran dry: wait for its next records before going on
        return produced, offsets

    def _send_marker(self, assigned: set[Any]) -> None:
        """Tell every keyed partition how far this router's scored partitions have got."""
        if not assigned:
            return
        busy: list[int] = []
        idle: list[int] = []
        for tp in assigned:
            highwater = self.consumer.highwater(tp)
            caught_up = highwater is not None and self.consumer.position(tp) >= highwater
            (idle if caught_up and not self.buffers.get(tp) else busy).append(tp.partition)
        marker = KeyedWatermark(busy=sorted(busy), idle=sorted(idle), progress=self.progress)
        value = encode(marker)
        for partition in range(self.keyed_partitions):
            self.producer.send(
                self.settings.kafka.topics.keyed, key=WATERMARK_KEY, value=value,
                partition=partition,
            )  # fmt: skip

    def _pause_full(self) -> None:
        """Bound memory: stop fetching partitions with a long buffer until it drains."""
        for tp, buffer in self.buffers.items():
            if len(buffer) >= MAX_BUFFERED:
                self.consumer.pause(tp)
            elif tp in self.consumer.paused():
                self.consumer.resume(tp)

    def close(self) -> None:
        """Leave the group."""
        if self.consumer is not None:
            self.consumer.close()
        if self.producer is not None:
            self.producer.close()
