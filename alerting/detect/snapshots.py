"""Detector snapshots in a compacted Kafka topic: one record per keyed partition.

A snapshot holds the detector state and the keyed-topic offset it covers. It is written
(acknowledged) before that offset is committed, and on assignment the worker restores the
latest snapshot and seeks to its offset, so state and position always agree: after a crash
the records since the snapshot are replayed into the restored state, and the alert ids they
produce are the ones already emitted.
"""

from __future__ import annotations

import json
from typing import Any

from finsent.config import KafkaSettings
from finsent.kafka import close_producer, make_producer
from finsent.reader import read_last

SNAPSHOT_VERSION = 1


class SnapshotStore:
    """Write and read the latest snapshot of each keyed partition."""

    def __init__(self, settings: KafkaSettings, topic: str) -> None:
        self.settings = settings
        self.topic = topic
        self.producer = make_producer(settings, max_request_size=8 * 1024 * 1024)

    def save(self, partition: int, offset: int, state: dict[str, Any]) -> None:
        """Write one snapshot and wait for the acknowledgement."""
        value = json.dumps({"version": SNAPSHOT_VERSION, "offset": offset, "state": state})
        future = self.producer.send(
            self.topic, key=str(partition).encode(), value=value.encode(), partition=partition
        )
        future.get(timeout=self.settings.request_timeout_ms / 1000)

    def load(self, partition: int) -> tuple[int, dict[str, Any]] | None:
        """The latest snapshot of a partition: (offset, state), or None."""
        latest: dict[str, Any] | None = None
        # compaction keeps the newest per key; read a few in case it has not run yet
        for record in read_last(self.settings, self.topic, partition, 20):
            data = json.loads(record.value)
            if data.get("version") == SNAPSHOT_VERSION:
                latest = data
        if latest is None:
            return None
        return int(latest["offset"]), latest["state"]

    def close(self) -> None:
        """Flush and close the producer."""
        close_producer(self.producer)
