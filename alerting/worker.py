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
from datetime import UTC, datetime, timedelta
from typing import Any

from kafka import ConsumerRebalanceListener, OffsetAndMetadata, TopicPartition

from alerting.detector import SurgeDetector
from alerting.progress import InputProgress
from alerting.rules import RuleSet, load_rules
from alerting.state_store import StateStore
from finsent import telemetry
from finsent.config import Settings
from finsent.kafka import AckedProducer, dead_letter, make_consumer, make_producer, partition_count
from finsent.logs import get_logger
from finsent.schemas import (
    WATERMARK_KEY,
    Alert,
    KeyedItem,
    KeyedWatermark,
    SchemaError,
    decode,
    encode,
)

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
        self.inputs: dict[int, InputProgress] = {}
        self.pending: set[int] = set()
        self.last_entry = time.monotonic()
        self.origins = 0
        self.positions: dict[int, int] = {}  # next offset per partition, as processed
        self.last_checkpoint = time.monotonic()
        self.dirty = False
        self.fired = 0

    def setup(self) -> None:
        """Check the topics' partitioning and join the detector group."""
        topics = self.settings.kafka.topics
        self.store = StateStore(self.settings.kafka, topics.alert_state)
        self.producer = AckedProducer(make_producer(self.settings.kafka))
        self.consumer = make_consumer(
            self.settings.kafka, self.settings.alerting.group_id, max_poll_records=2000
        )
        keyed = partition_count(self.consumer, topics.keyed)
        self.origins = partition_count(self.consumer, topics.scored)
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
            alerting.kibana_url, clock, follow_events=False,
        )  # fmt: skip

    def adopt(self, partitions: list[TopicPartition]) -> None:
        """Newly assigned partitions: restored after the poll (no I/O in the listener)."""
        self.pending.update(tp.partition for tp in partitions)

    def release(self, partitions: list[TopicPartition]) -> None:
        """Revoked partitions: dropped, nothing written.

        This runs on the consumer's IO loop, where blocking work stalls the rebalance. The
        next owner restores the last snapshot and replays the records after it; the
        detector is deterministic, so it emits the same alert ids again (downstream stores
        de-duplicate them by id).
        """
        for tp in partitions:
            self.pending.discard(tp.partition)
            self.detectors.pop(tp.partition, None)
            self.inputs.pop(tp.partition, None)
            self.positions.pop(tp.partition, None)

    def _restore_pending(self) -> set[int]:
        """Load the snapshots of newly assigned partitions and seek to their offsets."""
        assert self.store is not None
        restored = set(self.pending)
        for partition in sorted(self.pending):
            tp = TopicPartition(self.settings.kafka.topics.keyed, partition)
            detector = self._detector()
            inputs = InputProgress(self.origins)
            snapshot = self.store.load(partition)
            if snapshot is not None:
                offset, state = snapshot
                detector.restore(state["detector"])
                inputs.restore(state["inputs"])
                self.consumer.seek(tp, offset)
                self.positions[partition] = offset
            else:
                committed = self.consumer.committed(tp)
                self.consumer.seek(tp, committed or 0)
            self.detectors[partition] = detector
            self.inputs[partition] = inputs
            self.log.info("partition adopted", partition=partition, restored=bool(snapshot))
        self.pending.clear()
        return restored

    def _emit(self, alerts: list[Alert]) -> None:
        topic = self.settings.kafka.topics.alerts
        for alert in alerts:
            self.producer.send(topic, key=alert.key.encode(), value=encode(alert))
            self.fired += 1
            telemetry.ALERTS.labels(alert.status, alert.severity).inc()
            telemetry.RECENT_ALERTS.add(alert)
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
        restored = self._restore_pending() if self.pending else set()
        count = 0
        for tp, records in batches.items():
            if tp.partition in restored:
                continue  # fetched from the committed offset; re-read from the snapshot's
            detector = self.detectors.get(tp.partition)
            inputs = self.inputs.get(tp.partition)
            if detector is None or inputs is None:
                continue  # revoked during the poll
            for record in records:
                self.positions[tp.partition] = record.offset + 1
                try:
                    if record.key == WATERMARK_KEY:
                        inputs.marker(decode(KeyedWatermark, record.value))
                        continue
                    entry = decode(KeyedItem, record.value)
                except SchemaError as exc:
                    topic = self.settings.kafka.topics.deadletter
                    dead_letter(self.producer, topic, STAGE, record, exc.reason)
                    telemetry.DEAD_LETTERS.labels(STAGE).inc()
                    continue
                inputs.saw(entry)
                self._emit(detector.add(entry))
                count += 1
            low = inputs.low()
            if low is not None:
                self._emit(detector.advance(low))
        if count:
            self.dirty = True
        if count:
            self.last_entry = time.monotonic()
        idle = time.monotonic() - self.last_entry >= self.settings.alerting.lateness_s
        if self.settings.alerting.wall_clock and idle:
            self._advance_by_clock()
        if time.monotonic() - self.last_checkpoint >= self.settings.alerting.checkpoint_interval_s:
            self.checkpoint()
        return count

    def _advance_by_clock(self) -> None:
        """Nothing came for lateness_s: close windows by the clock, so quiet keys resolve.

        Only after entries were seen, and never more than two windows past the newest one:
        a detector that has not received anything yet (a slow classifier at start-up)
        must not close the windows its first entries belong to.
        """
        now = datetime.now(UTC)
        alerting = self.settings.alerting
        reach = timedelta(seconds=2 * alerting.window_s + alerting.lateness_s)
        for detector in self.detectors.values():
            latest = detector.windows.latest
            if latest is not None:
                self._emit(detector.advance(min(now, latest + reach)))

    def checkpoint(self, partitions: list[int] | None = None) -> None:
        """Alerts acknowledged, then snapshots, then offsets."""
        assert self.store is not None
        self.last_checkpoint = time.monotonic()
        if not self.dirty and partitions is None:
            return
        self.producer.acknowledge(self.settings.kafka.request_timeout_ms / 1000)
        offsets = self._snapshot(partitions if partitions is not None else list(self.detectors))
        if offsets:
            self.consumer.commit(offsets)
        self.dirty = False

    def _snapshot(self, partitions: list[int]) -> dict[TopicPartition, OffsetAndMetadata]:
        """Save the snapshots of these partitions; returns the offsets they cover."""
        assert self.store is not None
        offsets = {}
        for partition in partitions:
            detector = self.detectors.get(partition)
            position = self.positions.get(partition)
            if detector is None or position is None:
                continue
            state = {"detector": detector.snapshot(), "inputs": self.inputs[partition].to_json()}
            self.store.save(partition, position, state)
            tp = TopicPartition(self.settings.kafka.topics.keyed, partition)
            offsets[tp] = OffsetAndMetadata(position, "", -1)
        return offsets

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
