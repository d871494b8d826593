"""Scored items -> one KeyedItem per alert key, keyed by that key (repartitioning).

The detectors need every item of a key on one partition; the scored topic is keyed by item
id. The router re-publishes each item once per key with the key as the Kafka key, then
commits. A replay re-sends the same entries; the detector counts stories, so a repeated
entry of a story changes nothing.
"""

from __future__ import annotations

from typing import Any

from alerting.windows import keyed_items
from finsent.config import Settings
from finsent.kafka import dead_letter, make_consumer, make_producer
from finsent.logs import get_logger
from finsent.schemas import SchemaError, ScoredItem, decode, encode

STAGE = "alert-router"


class AlertRouter:
    """One member of the router consumer group."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.log = get_logger(STAGE)
        self.consumer: Any = None
        self.producer: Any = None
        self.routed = 0

    def setup(self) -> None:
        """Join the router group on the scored topic."""
        topics = self.settings.kafka.topics
        self.consumer = make_consumer(
            self.settings.kafka, f"{self.settings.alerting.group_id}-router", topics.scored,
            max_poll_records=1000,
        )  # fmt: skip
        self.producer = make_producer(self.settings.kafka)

    def run_once(self, timeout_ms: int = 200) -> int:
        """Route one poll's records, flush, commit; returns the entries produced."""
        topics = self.settings.kafka.topics
        batches = self.consumer.poll(timeout_ms=timeout_ms)
        records = [r for part in batches.values() for r in part]
        produced = 0
        for record in records:
            try:
                item = decode(ScoredItem, record.value)
            except SchemaError as exc:
                dead_letter(self.producer, topics.deadletter, STAGE, record, exc.reason)
                self.log.warning("dead-lettered", reason=exc.reason[:300], offset=record.offset)
                continue
            for entry in keyed_items(item):
                self.producer.send(topics.keyed, key=entry.key.encode(), value=encode(entry))
                produced += 1
        if records:
            self.producer.flush(timeout=self.settings.kafka.request_timeout_ms / 1000)
            self.consumer.commit()
        self.routed += produced
        return produced

    def close(self) -> None:
        """Leave the group."""
        if self.consumer is not None:
            self.consumer.close()
        if self.producer is not None:
            self.producer.close()
