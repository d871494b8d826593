"""`finsent classify`: raw topic -> engine -> scored topic, on the stage loop.

The loop (``finsent.stage.loop``) polls up to ``READ_AHEAD`` micro-batches for at most
``max_wait_ms``, dead-letters undecodable records, waits for every send's acknowledgement
and only then commits. This handler releases records to the model in ``published_at``
order across the raw partitions this member owns (``finsent.align``), so a backlog reaches
the event-time windows downstream in order; what it still buffers is what the loop does not
commit (``held``). It writes a ``ScoredProgress`` marker into every scored partition when
the report changes (checked twice a second) and every 10 s: which of its raw partitions are
still busy (the alert router reads them).
While a round is scored, every assigned partition is paused and the consumer is polled
between micro-batches, so a slow model never exceeds ``max_poll_interval_ms``. ScoredItems
are keyed by item id: a replay is harmless downstream.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from classifier.engine import Engine
from classifier.entities import TickerTagger
from finsent import telemetry
from finsent.align import EventTimeAligner
from finsent.config import Settings
from finsent.kafka import broadcast, ensure_topics, group_generation, partition_count
from finsent.logs import get_logger
from finsent.schemas import (
    WATERMARK_KEY,
    Prediction,
    RawItem,
    ScoredItem,
    ScoredProgress,
    SentimentPrediction,
    encode,
)
from finsent.stage.handler import Handler, Received
from finsent.stage.loop import LoopOptions, StageLoop

STAGE = "classify"
RELEASE = 8  # micro-batches scored per round: the engine sorts them by length together
READ_AHEAD = 2 * RELEASE  # micro-batches buffered per consumer (a few hundred items)
PROGRESS_INTERVAL_S = 0.5  # the progress marker is re-checked this often, and sent on a change
PROGRESS_HEARTBEAT_S = 10.0  # and at least this often (a router that just started learns it)


def item_text(item: RawItem) -> str:
    """What the model reads: the title, then the body."""
    return ". ".join(part for part in (item.title.strip(), item.text.strip()) if part)


@dataclass
class BatchResult:
    """What one round did (for logs and tests)."""

    scored: int = 0
    dead: int = 0


class ClassifyHandler(Handler[RawItem]):
    """Align by event time, score released items in micro-batches, produce them."""

    schema = RawItem

    def __init__(self, settings: Settings, engine: Engine, tagger: TickerTagger) -> None:
        self.settings = settings
        self.engine = engine
        self.tagger = tagger
        self.aligner: EventTimeAligner[RawItem] = EventTimeAligner(None)
        self.released = 0
        self.raw_partitions = 1
        self.scored_partitions = 1
        self.last_progress = 0.0
        self.last_sent = 0.0
        self.reported: tuple[list[int], list[int]] | None = None
        self.generation = -1

    def capacity(self) -> int:
        """Read ahead until the aligner holds ``READ_AHEAD`` batches (at least one batch).

        Always some: a partition the others wait for must be read.
        """
        items = self.settings.classifier.max_batch_items
        return max(items, READ_AHEAD * items - self.aligner.total())

    def handle(self, batch: Sequence[Received[RawItem]]) -> None:
        """Buffer the round's items, score and produce what alignment releases."""
        for received in batch:
            if not item_text(received.value):
                self.loop.dead_letter(
                    received.record, "nothing to classify: empty title and text", "empty"
                )
                continue
            self.aligner.add(received.tp, received.value.published_at, received.record,
                             received.value)  # fmt: skip
        if batch:
            self.send_progress(busy_only=True)  # before the scoring: readers wait for it
        limit = RELEASE * self.settings.classifier.max_batch_items
        released = list(self.aligner.release(limit))
        self.released = len(released)
        topic = self.settings.kafka.topics.scored
        if released:
            scored_items = self.score([item for _, _, item in released])
            for (_, record, _), scored in zip(released, scored_items, strict=True):
                self.loop.produce(record, topic, encode(scored), key=scored.id.encode())
            telemetry.PROCESSED.labels(STAGE).inc(len(released))
        if time.monotonic() - self.last_progress >= PROGRESS_INTERVAL_S:
            self.send_progress()  # after this round's items: "idle" means they are all there

    def assigned(self, partitions: Collection[Any]) -> None:
        """New partitions: report at the next chance, whatever was reported before."""
        self.reported = None

    def send_progress(self, busy_only: bool = False) -> None:
        """Tell every scored partition which of this member's raw partitions are still busy.

        Sent after this round's items, so a reader that sees "idle" has every item before it;
        only when the report changed, or every ``PROGRESS_HEARTBEAT_S`` (a steady stream of
        markers would itself keep the readers from ever being caught up). ``busy_only``
        (before a round is scored): sent only if a partition turned busy, so readers wait.
        A partition counts as busy while it has unread, buffered or early-fetched records.
        """
        now = time.monotonic()
        if not busy_only:
            self.last_progress = now
        assigned = self.aligner.consumer.assignment()
        if not assigned:
            return
        report = self.aligner.progress_report(assigned, self.loop.has_early)
        if report == self.reported and now - self.last_sent < PROGRESS_HEARTBEAT_S:
            return
        was_busy = set(self.reported[0]) if self.reported is not None else set()
        if busy_only and set(report[0]) <= was_busy:
            return  # only a partition turning busy is urgent; the rest waits for the check
        self.reported, self.last_sent = report, now
        generation = group_generation(self.aligner.consumer)
        self.generation = generation if generation is not None else self.generation
        marker = ScoredProgress(
            raw_partitions=self.raw_partitions, busy=report[0], idle=report[1],
            sent_at=datetime.now(UTC), generation=self.generation,
        )  # fmt: skip
        broadcast(self.loop.producer, self.settings.kafka.topics.scored, self.scored_partitions,
                  WATERMARK_KEY, encode(marker))  # fmt: skip

    def held(self, tp: Any) -> int | None:
        """Buffered records are not done: the first of them is where a restart re-reads."""
        return self.aligner.first_offset(tp)

    def committed(self) -> None:
        """Bound memory: stop fetching partitions with a long buffer until it drains."""
        self.aligner.pause_full()

    def score(self, items: list[RawItem]) -> list[ScoredItem]:
        """Classify and tag a batch of items, staying in the group however long it takes."""
        options = self.settings.classifier
        started = datetime.now(UTC)
        for item in items:
            telemetry.QUEUE_SECONDS.observe(max(0.0, (started - item.fetched_at).total_seconds()))
        with self.loop.paused():
            scores = self.engine.predict(
                [item_text(i) for i in items],
                options.max_batch_items,
                options.max_batch_tokens,
                between=self.loop.keep_alive,
            )
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


class ClassifyConsumer:
    """One member of the classifier consumer group: the handler on the stage loop."""

    def __init__(self, settings: Settings, engine: Engine, tagger: TickerTagger) -> None:
        self.settings = settings
        self.handler = ClassifyHandler(settings, engine, tagger)
        self.log = get_logger(STAGE)
        self.loop: StageLoop[RawItem] | None = None

    @property
    def consumer(self) -> Any:
        """The group member's Kafka consumer (after ``setup``)."""
        assert self.loop is not None
        return self.loop.consumer

    def setup(self) -> None:
        """Join the group and open the producer."""
        options = self.settings.classifier
        kafka = self.settings.kafka
        ensure_topics(kafka, [kafka.topics.raw, kafka.topics.scored, kafka.topics.deadletter])
        self.loop = StageLoop.connect(
            kafka,
            options.group_id,
            self.handler,
            LoopOptions.of(
                kafka,
                STAGE,
                [kafka.topics.raw],
                max_records=READ_AHEAD * options.max_batch_items,
                max_wait_ms=options.max_wait_ms,
                max_poll_interval_ms=options.max_poll_interval_ms,
            ),
        )
        self.handler.aligner = EventTimeAligner(self.loop.consumer)
        self.handler.raw_partitions = partition_count(self.loop.consumer, kafka.topics.raw)
        self.handler.scored_partitions = partition_count(self.loop.consumer, kafka.topics.scored)

    def run_once(self) -> BatchResult:
        """One round: poll, align, score, produce, acknowledge, commit what was released."""
        assert self.loop is not None
        dead = self.loop.dead_lettered
        self.handler.released = 0
        self.loop.run_once()
        return BatchResult(scored=self.handler.released, dead=self.loop.dead_lettered - dead)

    def run(self, stop: threading.Event) -> None:
        """Loop until ``stop`` is set; the batch in hand is finished and committed first."""
        while not stop.is_set():
            result = self.run_once()
            if result.scored or result.dead:
                self.log.info("batch", scored=result.scored, dead=result.dead)

    def close(self) -> None:
        """Last checkpoint, leave the group, close the producer."""
        if self.loop is not None:
            self.loop.close()
