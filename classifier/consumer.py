"""`finsent classify`: raw topic -> engine -> scored topic, committed after the outputs.

Each loop polls at most ``max_batch_items`` records for at most ``max_wait_ms``, scores them
in planned micro-batches, produces ScoredItems keyed by item id (plus dead letters), waits for
the broker to acknowledge every one of them, and only then commits the offsets: at-least-once,
and the stable id makes a replay harmless downstream. A send the brokers did not acknowledge
stops the stage before the commit (the daemon restarts it; the records are re-read). While a
round is scored, every assigned partition is paused and the consumer is polled between
micro-batches, so a slow model never exceeds ``max_poll_interval_ms`` and never triggers a
rebalance; a commit refused after a rebalance meanwhile is logged (the new owner re-reads).
Records are released to the model in ``published_at`` order across the raw partitions this
member owns (``finsent.align``), so a backlog reaches the event-time windows downstream in
order.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kafka import OffsetAndMetadata, TopicPartition
from kafka.errors import KafkaError

from classifier.engine import Engine
from classifier.entities import TickerTagger
from finsent import telemetry
from finsent.align import EventTimeAligner
from finsent.config import Settings
from finsent.kafka import (
    AckedProducer,
    dead_letter,
    ensure_topics,
    make_consumer,
    make_producer,
)
from finsent.logs import get_logger
from finsent.schemas import (
    Prediction,
    RawItem,
    SchemaError,
    ScoredItem,
    SentimentPrediction,
    decode,
    encode,
)

STAGE = "classify"
RELEASE = 8  # micro-batches scored per round: the engine sorts them by length together
READ_AHEAD = 2 * RELEASE  # micro-batches buffered per consumer (a few hundred items)
KEEP_ALIVE = 0.25  # poll the paused consumer once this share of max_poll_interval has passed


def item_text(item: RawItem) -> str:
    """What the model reads: the title, then the body."""
    return ". ".join(part for part in (item.title.strip(), item.text.strip()) if part)


@dataclass
class BatchResult:
    """What one loop did (for metrics, logs and tests)."""

    scored: int = 0
    dead: int = 0


class ClassifyConsumer:
    """One member of the classifier consumer group."""

    def __init__(self, settings: Settings, engine: Engine, tagger: TickerTagger) -> None:
        self.settings = settings
        self.engine = engine
        self.tagger = tagger
        self.log = get_logger(STAGE)
        self.consumer: Any = None
        self.producer: Any = None
        self.aligner: EventTimeAligner[RawItem] = EventTimeAligner(None)
        self.dead_pending: dict[Any, int] = {}  # partition -> offset after its last dead letter
        self.early: list[Any] = []  # records a keep-alive poll returned (new partitions)
        self.last_poll = time.monotonic()

    def setup(self) -> None:
        """Join the group and open the producer."""
        options = self.settings.classifier
        topics = self.settings.kafka.topics
        ensure_topics(self.settings.kafka, [topics.raw, topics.scored, topics.deadletter])
        self.consumer = make_consumer(
            self.settings.kafka,
            options.group_id,
            self.settings.kafka.topics.raw,
            max_poll_records=READ_AHEAD * options.max_batch_items,
            max_poll_interval_ms=options.max_poll_interval_ms,
        )
        self.producer = AckedProducer(make_producer(self.settings.kafka))
        self.aligner = EventTimeAligner(self.consumer)

    def _poll(self) -> list[Any]:
        """Records until the aligner holds ``READ_AHEAD`` batches, max_wait_ms after the first.

        Reading ahead keeps every partition's buffer stocked, so a backlog is released in
        full batches rather than cut short by a partition whose next records are not fetched.
        """
        options = self.settings.classifier
        wanted = max(  # always some: a partition the others wait for must be read
            options.max_batch_items, READ_AHEAD * options.max_batch_items - self.aligner.total()
        )
        records, self.early = self.early, []
        deadline: float | None = None
        while len(records) < wanted:
            remaining_ms = 500 if deadline is None else (deadline - time.monotonic()) * 1000
            if remaining_ms <= 0:
                break
            batches = self.consumer.poll(
                timeout_ms=int(remaining_ms), max_records=wanted - len(records)
            )
            self.last_poll = time.monotonic()
            fresh = [r for part in batches.values() for r in part]
            if not fresh and deadline is None:
                break  # idle: let the caller check for shutdown
            records += fresh
            if deadline is None and records:
                deadline = time.monotonic() + options.max_wait_ms / 1000
        return records

    def _dead_letter(self, record: Any, reason: str) -> None:
        topic = self.settings.kafka.topics.deadletter
        dead_letter(self.producer, topic, STAGE, record, reason)
        self.log.warning(
            "dead-lettered", reason=reason[:300], partition=record.partition, offset=record.offset
        )

    def _keep_alive(self) -> None:
        """Poll the (paused) consumer if a share of ``max_poll_interval_ms`` has passed.

        Paused partitions return nothing; a partition assigned meanwhile may, and its records
        wait for the next round.
        """
        interval_s = self.settings.classifier.max_poll_interval_ms / 1000
        if time.monotonic() - self.last_poll < KEEP_ALIVE * interval_s:
            return
        batches = self.consumer.poll(timeout_ms=0)
        self.last_poll = time.monotonic()
        self.early += [r for part in batches.values() for r in part]

    def score(self, items: list[RawItem]) -> list[ScoredItem]:
        """Classify and tag a batch of items, staying in the group however long it takes."""
        options = self.settings.classifier
        started = datetime.now(UTC)
        for item in items:
            telemetry.QUEUE_SECONDS.observe(max(0.0, (started - item.fetched_at).total_seconds()))
        running = set(self.consumer.assignment()) - set(self.consumer.paused())
        self.consumer.pause(*running)
        try:
            scores = self.engine.predict(
                [item_text(i) for i in items],
                options.max_batch_items,
                options.max_batch_tokens,
                between=self._keep_alive,
            )
        finally:
            self.consumer.resume(*(running & set(self.consumer.assignment())))
        now = datetime.now(UTC)
        return [
            ScoredItem(
                **item.model_dump(),
                sentiment=SentimentPrediction(label=s.sentiment_label, scores=s.sentiment),
                topic=Prediction(label=s.topic_label, scores=s.topic),
                tickers=self.tagger.tag(item.title, item.text, item.symbols),
                model=self.engine.spec.tag,
                classified_at=now,
            )
            for item, s in zip(items, scores, strict=True)
        ]

    def run_once(self) -> BatchResult:
        """Poll, align by event time, score, produce, flush, commit what was released."""
        records = self._poll()
        result = BatchResult()
        dead = self.dead_pending
        for record in records:
            tp = TopicPartition(record.topic, record.partition)
            try:
                item = decode(RawItem, record.value)
            except SchemaError as exc:
                self._dead_letter(record, exc.reason)
                result.dead += 1
                dead[tp] = record.offset + 1
                continue
            if not item_text(item):
                self._dead_letter(record, "nothing to classify: empty title and text")
                result.dead += 1
                dead[tp] = record.offset + 1
                continue
            self.aligner.add(tp, item.published_at, record, item)
        released = list(self.aligner.release(RELEASE * self.settings.classifier.max_batch_items))
        if released:
            for scored in self.score([item for _, _, item in released]):
                self.producer.send(
                    self.settings.kafka.topics.scored, key=scored.id.encode(), value=encode(scored)
                )
            result.scored = len(released)
        if not records and not released:
            return result
        self.producer.acknowledge(self.settings.kafka.request_timeout_ms / 1000)
        offsets = self.aligner.offsets(released)
        for tp in [tp for tp in dead if not self.aligner.buffered(tp)]:
            # nothing before the dead letter waits in the buffer: it is done too
            done = max(dead.pop(tp), offsets[tp].offset if tp in offsets else 0)
            offsets[tp] = OffsetAndMetadata(done, "", -1)
        if offsets:
            try:
                self.consumer.commit(offsets)
            except KafkaError as exc:  # lost the partitions meanwhile: the new owner re-reads
                self.log.warning("commit failed", error=str(exc))
        self.aligner.pause_full()
        telemetry.PROCESSED.labels(STAGE).inc(result.scored)
        telemetry.DEAD_LETTERS.labels(STAGE).inc(result.dead)
        return result

    def run(self, stop: threading.Event) -> None:
        """Loop until ``stop`` is set; the batch in hand is finished and committed first."""
        while not stop.is_set():
            result = self.run_once()
            if result.scored or result.dead:
                self.log.info("batch", scored=result.scored, dead=result.dead)

    def close(self) -> None:
        """Leave the group and close the producer (outputs of committed batches are durable)."""
        if self.consumer is not None:
            self.consumer.close()
        if self.producer is not None:
            self.producer.close()
