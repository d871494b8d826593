"""Detector worker: keyed topic -> surge detectors (one per partition) -> alert events.

A member of the detector group owns some partitions of the keyed topic; each partition has
its own ``SurgeDetector`` (keys never span partitions), restored from its latest snapshot
when assigned. Checkpoint order: alerts produced and acknowledged, snapshot acknowledged,
offsets committed. N members therefore fire the same alerts as one: the partitioning, not
the membership, decides which detector sees which key.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from kafka import ConsumerRebalanceListener, OffsetAndMetadata, TopicPartition

from alerting.detector import SurgeDetector
from alerting.rules import RuleSet, load_rules
from alerting.state_store import StateStore
from finsent.config import Settings
from finsent.kafka import dead_letter, make_consumer, make_producer, partition_count
from finsent.logs import get_logger
from finsent.schemas import Alert, KeyedItem, SchemaError, decode, encode

STAGE = "alert"


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, worker: DetectorWorker) -> None:
        self.worker = worker

    def on_partitions_revoked(self, revoked: Any) -> None:
        self.worker.release(list(revoked))

    def on_partitions_assigned(self, assigned: Any) -> None:
        self.worker.adopt(list(assigned))


class DetectorWorker:
    """One member of the detector consumer group."""

    def __init__(self, settings: Settings, on_alert: Callable[[Alert], None] | None = None) -> None:
        self.settings = settings
        self.log = get_logger(STAGE)
        self.rules: RuleSet = load_rules(settings.alerting.rules_file)
        self.on_alert = on_alert
        self.consumer: Any = None
        self.producer: Any = None
        self.store: StateStore | None = None
        self.detectors: dict[int, SurgeDetector] = {}
        self.positions: dict[int, int] = {}  # next offset per partition, as processed
        self.last_checkpoint = time.monotonic()
        self.dirty = False
        self.fired = 0

    def setup(self) -> None:
        """Check the topics' partitioning and join the detector group."""
        topics = self.settings.kafka.topics
        self.store = StateStore(self.settings.kafka, topics.alert_state)
        self.producer = make_producer(self.settings.kafka)
        self.consumer = make_consumer(
            self.settings.kafka, self.settings.alerting.group_id, max_poll_records=2000
        )
        keyed = partition_count(self.consumer, topics.keyed)
        state = partition_count(self.consumer, topics.alert_state)
        if state < keyed:
            raise RuntimeError(
                f"topic {topics.alert_state} has {state} partitions but {topics.keyed} has "
                f"{keyed}: give the state topic at least as many (kafka-topics --alter)"
            )
        self.consumer.subscribe([topics.keyed], listener=_Rebalance(self))

    def _detector(self) -> SurgeDetector:
        alerting = self.settings.alerting
        clock = (lambda: datetime.now(UTC)) if alerting.wall_clock else None
        return SurgeDetector(
            self.rules, alerting.window_s, alerting.lateness_s, alerting.samples,
            alerting.kibana_url, clock,
        )  # fmt: skip

    def adopt(self, partitions: list[TopicPartition]) -> None:
        """Restore each newly assigned partition's detector and position."""
        assert self.store is not None
        for tp in partitions:
            detector = self._detector()
            snapshot = self.store.load(tp.partition)
            if snapshot is not None:
                offset, state = snapshot
                detector.restore(state)
                self.consumer.seek(tp, offset)
                self.positions[tp.partition] = offset
            self.detectors[tp.partition] = detector
            self.log.info("partition adopted", partition=tp.partition, restored=bool(snapshot))

    def release(self, partitions: list[TopicPartition]) -> None:
        """Checkpoint and drop revoked partitions."""
        self.checkpoint([tp.partition for tp in partitions])
        for tp in partitions:
            self.detectors.pop(tp.partition, None)
            self.positions.pop(tp.partition, None)

    def _emit(self, alerts: list[Alert]) -> None:
        topic = self.settings.kafka.topics.alerts
        for alert in alerts:
            self.producer.send(topic, key=alert.key.encode(), value=encode(alert))
            self.fired += 1
            self.log.info(
                "alert", status=alert.status, key=alert.key, severity=alert.severity,
                observed=alert.observed, expected=alert.expected, id=alert.id,
            )  # fmt: skip
            if self.on_alert is not None:
                self.on_alert(alert)
        if alerts:
            self.dirty = True

    def run_once(self, timeout_ms: int = 200) -> int:
        """Poll, detect, emit; checkpoint when due. Returns the records processed."""
        batches = self.consumer.poll(timeout_ms=timeout_ms)
        count = 0
        for tp, records in batches.items():
            detector = self.detectors.get(tp.partition)
            if detector is None:
                continue  # revoked during the poll
            for record in records:
                self.positions[tp.partition] = record.offset + 1
                try:
                    entry = decode(KeyedItem, record.value)
                except SchemaError as exc:
                    topic = self.settings.kafka.topics.deadletter
                    dead_letter(self.producer, topic, STAGE, record, exc.reason)
                    continue
                self._emit(detector.add(entry))
                count += 1
        if count:
            self.dirty = True
        if self.settings.alerting.wall_clock:
            now = datetime.now(UTC)
            for detector in self.detectors.values():
                self._emit(detector.advance(now))
        if time.monotonic() - self.last_checkpoint >= self.settings.alerting.checkpoint_interval_s:
            self.checkpoint()
        return count

    def checkpoint(self, partitions: list[int] | None = None) -> None:
        """Alerts acknowledged, then snapshots, then offsets."""
        assert self.store is not None
        self.last_checkpoint = time.monotonic()
        if not self.dirty and partitions is None:
            return
        self.producer.flush(timeout=self.settings.kafka.request_timeout_ms / 1000)
        offsets = {}
        for partition in partitions if partitions is not None else list(self.detectors):
            detector = self.detectors.get(partition)
            position = self.positions.get(partition)
            if detector is None or position is None:
                continue
            self.store.save(partition, position, detector.snapshot())
            tp = TopicPartition(self.settings.kafka.topics.keyed, partition)
            offsets[tp] = OffsetAndMetadata(position, "", -1)
        if offsets:
            self.consumer.commit(offsets)
        self.dirty = False

    def close(self) -> None:
        """Checkpoint everything, leave the group."""
        if self.consumer is not None:
            try:
                self.checkpoint(list(self.detectors))
            finally:
                self.consumer.close()
        if self.producer is not None:
            self.producer.close()
        if self.store is not None:
            self.store.close()
