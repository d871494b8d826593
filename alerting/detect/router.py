"""Scored items -> one KeyedItem per alert key, keyed by that key (repartitioning).

The detectors need every item of a key on one partition; the scored topic is keyed by item
id. The router re-publishes each item once per key with the key as the Kafka key, then
commits. A replay re-sends the same entries; the detector counts stories, so a repeated
entry of a story changes nothing.

Records are released in ``published_at`` order across the scored partitions it owns
(``finsent.align``), so a backlog does not make the detectors drop entries as late, and
progress markers tell every keyed partition how far this router has got. The classifier's
own markers in the scored topic (``ScoredProgress``) say which scored partitions still have
items on their way (``alerting.detect.upstream``). A handler on the stage loop.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from kafka.errors import KafkaError

from alerting.detect.keys import keyed_items
from alerting.detect.upstream import UpstreamProgress
from finsent import telemetry
from finsent.align import EventTimeAligner
from finsent.config import Settings
from finsent.kafka import broadcast, partition_count
from finsent.logs import get_logger
from finsent.reader import read_last
from finsent.schemas import (
    WATERMARK_KEY,
    KeyedWatermark,
    SchemaError,
    ScoredItem,
    ScoredProgress,
    decode,
    encode,
)
from finsent.stage.handler import Handler, Received
from finsent.stage.loop import LoopOptions, StageLoop

STAGE = "alert-router"
ALIGN_IDLE_S = 5.0
MAX_BUFFERED = 20_000
MARKER_INTERVAL_S = 0.5
RECENT_RECORDS = 200  # read back at start for the classifiers' latest progress markers

Scored = ScoredItem | ScoredProgress


class RouterHandler(Handler[Scored]):
    """Align scored items by event time, re-publish each once per alert key."""

    schema = ScoredItem

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.aligner: EventTimeAligner[ScoredItem] = EventTimeAligner(None)
        self.upstream = UpstreamProgress(1)
        self.progress: datetime | None = None  # published_at of the last released item
        self.last_marker = 0.0
        self.keyed_partitions = 0
        self.produced = 0

    def decode(self, record: Any) -> Scored:
        """An item, or the classifier's progress marker."""
        if record.key == WATERMARK_KEY:
            return decode(ScoredProgress, record.value)
        return decode(ScoredItem, record.value)

    def handle(self, batch: Sequence[Received[Scored]]) -> None:
        """Buffer the round, release what is aligned, produce keyed entries and markers."""
        topics = self.settings.kafka.topics
        for received in batch:
            value = received.value
            if isinstance(value, ScoredProgress):
                self.upstream.update(value)
            else:
                self.aligner.add(received.tp, value.published_at, received.record, value)
        produced = 0
        for tp, _, item in self.aligner.release():
            for entry in keyed_items(item, origin=tp.partition):
                self.loop.producer.send(topics.keyed, key=entry.key.encode(), value=encode(entry))
                produced += 1
            at = item.published_at
            self.progress = at if self.progress is None else max(self.progress, at)
        now = time.monotonic()
        if now - self.last_marker >= MARKER_INTERVAL_S:
            self._send_marker(set(self.aligner.consumer.assignment()))
            self.last_marker = now
        self.aligner.pause_full()
        self.produced = produced
        telemetry.PROCESSED.labels(STAGE).inc(produced)

    def held(self, tp: Any) -> int | None:
        """Buffered items are re-read after a restart."""
        return self.aligner.first_offset(tp)

    def _send_marker(self, assigned: set[Any]) -> None:
        """Tell every keyed partition how far this router's scored partitions have got."""
        if not assigned:
            return
        busy, idle = self.aligner.progress_report(assigned, self.upstream.busy)
        marker = KeyedWatermark(busy=busy, idle=idle, progress=self.progress)
        broadcast(self.loop.producer, self.settings.kafka.topics.keyed, self.keyed_partitions,
                  WATERMARK_KEY, encode(marker))  # fmt: skip


class AlertRouter:
    """One member of the router consumer group."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.handler = RouterHandler(settings)
        self.loop: StageLoop[Scored] | None = None
        self.log = get_logger(STAGE)

    def setup(self) -> None:
        """Join the router group on the scored topic."""
        kafka = self.settings.kafka
        self.loop = StageLoop.connect(
            kafka, f"{self.settings.alerting.group_id}-router", self.handler,
            LoopOptions.of(kafka, STAGE, [kafka.topics.scored], max_records=1000,
                           poll_timeout_ms=100),
        )  # fmt: skip
        consumer = self.loop.consumer
        self.handler.keyed_partitions = partition_count(consumer, kafka.topics.keyed)
        scored = partition_count(consumer, kafka.topics.scored)
        self.handler.upstream = UpstreamProgress(scored)
        self._recent_progress(scored)
        self.handler.aligner = EventTimeAligner(
            consumer, ALIGN_IDLE_S, MAX_BUFFERED, upstream_busy=self.handler.upstream.busy
        )

    def _recent_progress(self, partitions: int) -> None:
        """The classifiers' latest reports, from the tail of each scored partition.

        A restarted router resumes after its committed offset; the markers before it still
        say which raw partitions are busy, so it does not take them for idle meanwhile.
        """
        topic = self.settings.kafka.topics.scored
        for partition in range(partitions):
            try:
                records = read_last(self.settings.kafka, topic, partition, RECENT_RECORDS)
            except (KafkaError, TimeoutError) as exc:  # not fatal: the next markers tell
                self.log.warning("recent progress unread", partition=partition, error=str(exc))
                continue
            for record in records:
                if record.key == WATERMARK_KEY:
                    try:
                        self.handler.upstream.update(decode(ScoredProgress, record.value))
                    except SchemaError:
                        continue

    def run_once(self) -> int:
        """One round; returns the keyed entries produced."""
        assert self.loop is not None
        self.handler.produced = 0
        self.loop.run_once()
        return self.handler.produced

    def close(self) -> None:
        """Last checkpoint, leave the group."""
        if self.loop is not None:
            self.loop.close()
