"""Detector worker: keyed topic -> surge detectors (one per partition) -> alert events.

A member of the detector group owns some partitions of the keyed topic; each partition has
its own ``SurgeDetector`` (keys never span partitions), restored from its latest snapshot
when assigned. Checkpoint order: alerts produced and acknowledged, snapshot acknowledged,
offsets committed. N members therefore fire the same alerts as one: the partitioning, not
the membership, decides which detector sees which key. A handler on the stage loop: the
loop decodes, dead-letters and commits; ``flush`` acknowledges the alerts and saves the
snapshots before the loop commits the offsets they cover.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Collection, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from kafka import TopicPartition

from alerting.detect.detector import SurgeDetector
from alerting.detect.progress import InputProgress
from alerting.detect.rules import RuleSet, load_rules
from alerting.detect.snapshots import SnapshotStore
from finsent import telemetry
from finsent.config import Settings
from finsent.kafka import partition_count
from finsent.logs import get_logger
from finsent.schemas import (
    WATERMARK_KEY,
    Alert,
    KeyedItem,
    KeyedWatermark,
    decode,
    encode,
)
from finsent.stage.handler import Handler, Received
from finsent.stage.loop import LoopOptions, StageLoop

STAGE = "alert"

Keyed = KeyedItem | KeyedWatermark


class Snapshots(Protocol):
    """Where detector snapshots go (``SnapshotStore``; an in-memory one in tests)."""

    def save(self, partition: int, offset: int, state: dict[str, Any]) -> None:
        """Write one snapshot durably."""
        ...

    def load(self, partition: int) -> tuple[int, dict[str, Any]] | None:
        """The latest snapshot of a partition: (offset, state), or None."""
        ...

    def close(self) -> None:
        """Release the store."""
        ...


class WorkerHandler(Handler[Keyed]):
    """One ``SurgeDetector`` per owned keyed partition, snapshotted before each commit."""

    schema = KeyedItem

    def __init__(self, settings: Settings, rules: RuleSet, store: Snapshots, origins: int) -> None:
        self.settings = settings
        self.rules = rules
        self.store = store
        self.origins = origins
        self.log = get_logger(STAGE)
        self.detectors: dict[int, SurgeDetector] = {}
        self.inputs: dict[int, InputProgress] = {}
        self.pending: set[int] = set()
        self.last_entry = time.monotonic()
        self.last_checkpoint = time.monotonic()
        self.dirty = False
        self.count = 0

    def decode(self, record: Any) -> Keyed:
        """An entry, or a router's progress marker."""
        if record.key == WATERMARK_KEY:
            return decode(KeyedWatermark, record.value)
        return decode(KeyedItem, record.value)

    def _detector(self) -> SurgeDetector:
        alerting = self.settings.alerting
        clock = (lambda: datetime.now(UTC)) if alerting.wall_clock else None
        return SurgeDetector(
            self.rules, alerting.window_s, alerting.lateness_s, alerting.samples,
            alerting.kibana_url, clock, follow_events=False, bin_s=alerting.bin_s,
            rhythm_slot_s=alerting.rhythm_slot_s, rhythm_timezone=alerting.rhythm_timezone,
        )  # fmt: skip

    def assigned(self, partitions: Collection[Any]) -> None:
        """Newly assigned partitions: restored after the poll (no I/O in the listener)."""
        self.pending.update(tp.partition for tp in partitions)

    def revoked(self, partitions: Collection[Any]) -> None:
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

    def refresh(self) -> None:
        """Load the snapshots of newly assigned partitions and seek to their offsets.

        The records this poll fetched for them (from the committed offset) are dropped by
        the loop; they are re-read from the snapshot's offset.
        """
        for partition in sorted(self.pending):
            tp = TopicPartition(self.settings.kafka.topics.keyed, partition)
            detector = self._detector()
            inputs = InputProgress(self.origins)
            snapshot = self.store.load(partition)
            if snapshot is not None:
                offset, state = snapshot
                detector.restore(state["detector"])
                inputs.restore(state["inputs"])
                self.loop.seek(tp, offset)
            self.detectors[partition] = detector
            self.inputs[partition] = inputs
            self.log.info("partition adopted", partition=partition, restored=bool(snapshot))
        self.pending.clear()

    def _emit(self, alerts: list[Alert]) -> None:
        topic = self.settings.kafka.topics.alerts
        for alert in alerts:
            self.loop.producer.send(topic, key=alert.key.encode(), value=encode(alert))
            telemetry.ALERTS.labels(alert.status, alert.severity).inc()
            telemetry.RECENT_ALERTS.add(alert)
            self.log.info(
                "alert", status=alert.status, key=alert.key, severity=alert.severity,
                observed=alert.observed, expected=alert.expected, id=alert.id,
            )  # fmt: skip
        if alerts:
            self.dirty = True

    def handle(self, batch: Sequence[Received[Keyed]]) -> None:
        """Markers and entries into each partition's detector; windows close on the low mark."""
        count = 0
        for tp, group in itertools.groupby(batch, key=lambda received: received.tp):
            detector = self.detectors.get(tp.partition)
            inputs = self.inputs.get(tp.partition)
            if detector is None or inputs is None:
                continue  # revoked during the poll
            for received in group:
                value = received.value
                if isinstance(value, KeyedWatermark):
                    inputs.marker(value)
                    continue
                inputs.saw(value)
                self._emit(detector.add(value))
                count += 1
            low = inputs.low()
            if low is not None:
                self._emit(detector.advance(low))
        if count:
            self.dirty = True
            self.last_entry = time.monotonic()
        idle = time.monotonic() - self.last_entry >= self.settings.alerting.lateness_s
        if self.settings.alerting.wall_clock and idle:
            self._advance_by_clock()
        self.count = count

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
            latest = detector.bins.latest
            if latest is not None:
                self._emit(detector.advance(min(now, latest + reach)))

    def checkpoint_due(self, active: bool) -> bool:
        """Every ``checkpoint_interval_s``.

        With no new state (only progress markers came) nothing is snapshotted, but the
        offsets still move on, so the group's lag does not grow with the markers: a restart
        restores the last snapshot and re-reads from its offset, not from the commit.
        """
        interval = self.settings.alerting.checkpoint_interval_s
        if time.monotonic() - self.last_checkpoint < interval:
            return False
        self.last_checkpoint = time.monotonic()
        return True

    def flush(self) -> None:
        """Alerts acknowledged, then the snapshots of every owned partition (if changed).

        The loop commits the offsets the snapshots cover only after this returns.
        """
        if not self.dirty:
            return
        self.loop.producer.acknowledge(self.settings.kafka.request_timeout_ms / 1000)
        for partition, detector in self.detectors.items():
            tp = TopicPartition(self.settings.kafka.topics.keyed, partition)
            position = self.loop.positions.get(tp)
            if position is None:
                continue
            state = {"detector": detector.snapshot(), "inputs": self.inputs[partition].to_json()}
            self.store.save(partition, position, state)
        self.dirty = False

    def close(self) -> None:
        """Close the snapshot store (after the loop's last checkpoint)."""
        self.store.close()


class DetectorWorker:
    """One member of the detector consumer group."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.rules: RuleSet = load_rules(settings.alerting.rules_file)
        self.handler: WorkerHandler | None = None
        self.loop: StageLoop[Keyed] | None = None

    @property
    def detectors(self) -> dict[int, SurgeDetector]:
        """The detector of each owned keyed partition."""
        return self.handler.detectors if self.handler is not None else {}

    def setup(self) -> None:
        """Check the topics' partitioning and join the detector group."""
        kafka = self.settings.kafka
        topics = kafka.topics
        store = SnapshotStore(kafka, topics.alert_state)
        self.handler = WorkerHandler(self.settings, self.rules, store, origins=0)
        self.loop = StageLoop.connect(
            kafka, self.settings.alerting.group_id, self.handler,
            LoopOptions.of(kafka, STAGE, [topics.keyed], max_records=2000, poll_timeout_ms=100),
        )  # fmt: skip
        consumer = self.loop.consumer
        keyed = partition_count(consumer, topics.keyed)
        self.handler.origins = partition_count(consumer, topics.scored)
        state = partition_count(consumer, topics.alert_state)
        if state < keyed:
            raise RuntimeError(
                f"topic {topics.alert_state} has {state} partitions but {topics.keyed} has "
                f"{keyed}: give the state topic at least as many (kafka-topics --alter)"
            )

    def run_once(self) -> int:
        """One round: detect, emit, checkpoint when due; returns the entries processed."""
        assert self.loop is not None and self.handler is not None
        self.handler.count = 0
        self.loop.run_once()
        return self.handler.count

    def close(self) -> None:
        """Checkpoint everything (a snapshot of every partition), leave the group."""
        if self.loop is not None:
            if self.handler is not None:
                self.handler.dirty = True
            self.loop.close()
