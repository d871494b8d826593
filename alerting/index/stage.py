"""The index stage: scored topic -> Elasticsearch, offsets committed after the bulk ack.

A handler on the stage loop (``finsent.stage.loop``): each round's items go to the bulk
sink; ``flush`` sends them, dead-letters the ones Elasticsearch rejected for good, and only
then does the loop commit. Progress markers in the scored topic are not items: skipped.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from alerting.index.elasticsearch import ElasticsearchSink, ItemSink
from finsent import telemetry
from finsent.config import Settings
from finsent.es import install_templates, make_client
from finsent.kafka import ensure_topics
from finsent.schemas import WATERMARK_KEY, ScoredItem, decode
from finsent.stage.handler import Handler, Received
from finsent.stage.loop import LoopOptions, StageLoop

STAGE = "index"


class IndexHandler(Handler[ScoredItem | None]):
    """Scored items into the bulk sink; rejected documents dead-lettered with the reason."""

    schema = ScoredItem

    def __init__(self) -> None:
        self.sink: ItemSink | None = None
        self.records: dict[str, Any] = {}
        self.indexed = 0

    def decode(self, record: Any) -> ScoredItem | None:
        """An item, or None for a progress marker."""
        return None if record.key == WATERMARK_KEY else decode(ScoredItem, record.value)

    def handle(self, batch: Sequence[Received[ScoredItem | None]]) -> None:
        """Buffer the round's items in the sink."""
        assert self.sink is not None
        for received in batch:
            if received.value is not None:
                self.sink.add(received.value)
                self.records[received.value.id] = received.record

    def flush(self) -> None:
        """Bulk-index; what Elasticsearch refused for good goes to the dead-letter topic."""
        assert self.sink is not None
        if not self.records:
            self.indexed = 0
            return
        result = self.sink.flush()
        for rejected in result.rejected:
            self.loop.dead_letter(self.records[rejected.item.id],
                                  f"elasticsearch {rejected.reason}", "elasticsearch")  # fmt: skip
        self.records.clear()
        self.indexed = result.indexed
        telemetry.PROCESSED.labels(STAGE).inc(result.indexed)


class IndexStage:
    """One member of the indexer consumer group."""

    name = STAGE

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.handler = IndexHandler()
        self.loop: StageLoop[ScoredItem | None] | None = None

    def setup(self) -> None:
        """Install templates (idempotent), join the group, open the dead-letter producer."""
        client = make_client(self.settings.elasticsearch)
        prefix = self.settings.elasticsearch.index_prefix
        install_templates(client, prefix)
        kafka = self.settings.kafka
        ensure_topics(kafka, [kafka.topics.scored, kafka.topics.deadletter])
        self.loop = StageLoop.connect(
            kafka, f"{prefix}-index", self.handler,
            LoopOptions.of(kafka, STAGE, [kafka.topics.scored], max_records=500),
        )  # fmt: skip
        self.handler.sink = ElasticsearchSink(
            client, prefix, on_wait=self.loop.wait_paused,
            max_age_days=self.settings.elasticsearch.daily_index_max_age_days,
        )  # fmt: skip

    def run_once(self) -> int:
        """One round: poll, index, dead-letter what cannot be, commit; returns docs indexed."""
        assert self.loop is not None
        self.handler.indexed = 0
        self.loop.run_once()
        return self.handler.indexed

    def run(self, stop: threading.Event) -> None:
        """Index until stopped."""
        assert self.loop is not None
        self.loop.run(stop)

    def close(self) -> None:
        """Last checkpoint, leave the group."""
        if self.loop is not None:
            self.loop.close()
