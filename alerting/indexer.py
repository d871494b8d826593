"""The index stage: scored topic -> Elasticsearch, offsets committed after the bulk ack."""

from __future__ import annotations

import threading
import time
from typing import Any

from alerting.sinks.elasticsearch import ElasticsearchSink
from finsent import telemetry
from finsent.config import Settings
from finsent.es import install_templates, make_client
from finsent.kafka import AckedProducer, dead_letter, ensure_topics, make_consumer, make_producer
from finsent.logs import get_logger
from finsent.schemas import SchemaError, ScoredItem, decode

STAGE = "index"


class IndexStage:
    """One member of the indexer consumer group."""

    name = STAGE

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.log = get_logger(STAGE)
        self.consumer: Any = None
        self.producer: Any = None
        self.sink: ElasticsearchSink | None = None

    def setup(self) -> None:
        """Install templates (idempotent), join the group, open the dead-letter producer."""
        client = make_client(self.settings.elasticsearch)
        install_templates(client, self.settings.elasticsearch.index_prefix)
        topics = self.settings.kafka.topics
        ensure_topics(self.settings.kafka, [topics.scored, topics.deadletter])
        self.consumer = make_consumer(
            self.settings.kafka, f"{self.settings.elasticsearch.index_prefix}-index",
            topics.scored, max_poll_records=500,
        )  # fmt: skip
        self.producer = AckedProducer(make_producer(self.settings.kafka))
        self.sink = ElasticsearchSink(
            client, self.settings.elasticsearch.index_prefix, on_wait=self._wait_paused
        )

    def _wait_paused(self, seconds: float) -> None:
        """Backpressure: stop fetching but keep polling, so the group keeps this member."""
        partitions = list(self.consumer.assignment())
        self.consumer.pause(*partitions)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.consumer.poll(timeout_ms=min(200, int(seconds * 1000)))
        self.consumer.resume(*partitions)

    def _dead_letter(self, record: Any, reason: str) -> None:
        topic = self.settings.kafka.topics.deadletter
        dead_letter(self.producer, topic, STAGE, record, reason)
        telemetry.DEAD_LETTERS.labels(STAGE).inc()
        self.log.warning(
            "dead-lettered", reason=reason[:300], partition=record.partition, offset=record.offset
        )

    def run_once(self) -> int:
        """Poll a batch, index it, dead-letter what cannot be, then commit."""
        assert self.sink is not None
        batches = self.consumer.poll(timeout_ms=500)
        records = [r for part in batches.values() for r in part]
        if not records:
            return 0
        by_id: dict[str, Any] = {}
        for record in records:
            try:
                item = decode(ScoredItem, record.value)
            except SchemaError as exc:
                self._dead_letter(record, exc.reason)
                continue
            self.sink.add(item)
            by_id[item.id] = record
        result = self.sink.flush()
        for rejected in result.rejected:
            self._dead_letter(by_id[rejected.item.id], f"elasticsearch {rejected.reason}")
        self.producer.acknowledge(self.settings.kafka.request_timeout_ms / 1000)
        self.consumer.commit()
        telemetry.PROCESSED.labels(STAGE).inc(result.indexed)
        return result.indexed

    def run(self, stop: threading.Event) -> None:
        """Index until stopped."""
        while not stop.is_set():
            self.run_once()

    def close(self) -> None:
        """Leave the group."""
        if self.consumer is not None:
            self.consumer.close()
        if self.producer is not None:
            self.producer.close()
