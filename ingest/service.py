"""The ingest stage: poll sources, de-duplicate, produce, then remember what was produced."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from kafka.errors import KafkaError

from finsent.config import Settings
from finsent.config_sources import SourceBase
from finsent.kafka import ensure_topics
from finsent.logs import get_logger
from finsent.schemas import RawItem, encode
from ingest import telemetry
from ingest.errors import SourceError
from ingest.items import ItemFactory
from ingest.privacy import AuthorPseudonymiser
from ingest.producer import ItemProducer
from ingest.sources import build_source
from ingest.sources.base import Source, SourceContext
from ingest.state import StateStore


@dataclass
class SourceRun:
    """Outcome of one poll of one source."""

    source: str
    new: int = 0
    duplicates: int = 0
    error: str | None = None
    problems: list[str] = field(default_factory=list)


@dataclass
class SourceHealth:
    """Consecutive failures and empty polls: the scheduler's backoff, and one report each."""

    failures: int = 0
    empty: int = 0
    reported: set[str] = field(default_factory=set)
    new_total: int = 0  # since set-up: a finished replay that produced none is reported once
    duplicate_total: int = 0
    finished: bool = False  # a replay has emitted all its recording (and that was looked at)


class Ingestor:
    """Owns the sources, the state store and the producer."""

    def __init__(self, settings: Settings, producer: ItemProducer | None = None) -> None:
        self.settings = settings
        self.log = get_logger("ingest")
        self.producer = producer
        self.state: StateStore | None = None
        self.sources: dict[str, Source] = {}
        self.configs: dict[str, SourceBase] = {}
        self.health: dict[str, SourceHealth] = {}
        self.pseudonymise = AuthorPseudonymiser(None)

    def setup(self, sources: list[Any] | None = None) -> None:
        """Open state and producer; set up each enabled source (a broken one is reported)."""
        options = self.settings.ingest
        self.state = StateStore(options.state_path, options.seen_max_entries)
        if options.pseudonymise_authors:
            key = (
                options.author_key.get_secret_value().encode()
                if options.author_key is not None
                else self.state.secret("author_key")
            )
            pseudonymise = AuthorPseudonymiser(key)
        else:
            pseudonymise = AuthorPseudonymiser(None)
        if self.producer is None:
            ensure_topics(self.settings.kafka, [self.settings.kafka.topics.raw])
            self.producer = ItemProducer(self.settings.kafka)
        self.pseudonymise = pseudonymise
        for config in sources if sources is not None else options.sources:
            if config.enabled:
                self.add_source(config, build_source(config))

    def add_source(self, config: SourceBase, source: Source) -> None:
        """Set up one source (after ``setup``); a broken one is reported, not added."""
        assert self.state is not None
        kind = getattr(config, "kind", "news")
        self.configs[config.name] = config
        self.health[config.name] = SourceHealth()
        try:
            source.setup(
                SourceContext(self.state, ItemFactory(config.name, kind, self.pseudonymise))
            )
        except (OSError, ValueError) as exc:
            self._failed(config.name, "setup", str(exc))
            return
        self.sources[config.name] = source

    def poll(self, name: str) -> SourceRun:
        """Poll one source and produce its new items; errors are data, never raised."""
        assert self.state is not None and self.producer is not None
        run = SourceRun(name)
        source = self.sources[name]
        started = time.monotonic()
        try:
            result = source.poll()
        except SourceError as exc:
            run.error = exc.reason
            self._failed(name, exc.reason, exc.detail)
            return run
        finally:
            telemetry.FETCH_SECONDS.labels(name).observe(time.monotonic() - started)
        for reason, detail in result.problems:
            run.problems.append(f"{reason}: {detail}")
            telemetry.ERRORS.labels(name, reason).inc()
            self.log.warning("source problem", source=name, reason=reason, detail=detail[:500])
        unique = {item.id: item for item in result.items}
        fresh = self.state.unseen(unique)
        candidates = {item_id: item for item_id, item in unique.items() if item_id in fresh}
        run.duplicates = len(result.items) - len(candidates)
        oversized = self._oversized(name, candidates)
        if oversized:
            run.problems += [f"item_too_large: {item_id}" for item_id in oversized]
            self.state.mark_seen(oversized)  # refused for good: not re-offered every poll
        new_items = [item for item_id, item in candidates.items() if item_id not in oversized]
        try:
            acknowledged = self.producer.send(new_items) if new_items else []
        except KafkaError as exc:
            run.error = "kafka"
            self._failed(name, "kafka", str(exc))
            if result.requeue is not None:
                result.requeue(new_items)  # nothing marked seen: offered again next poll
            return run
        self.state.mark_seen(acknowledged)
        if result.state:
            self.state.put(f"source:{name}", result.state)
        run.new = len(acknowledged)
        self._succeeded(name, run)
        return run

    def _oversized(self, name: str, items: dict[str, RawItem]) -> list[str]:
        """Ids of items too large to produce: each is refused alone, not the whole poll."""
        limit = self.settings.ingest.max_item_bytes
        oversized = []
        for item_id, item in items.items():
            size = len(encode(item))
            if size > limit:
                oversized.append(item_id)
                telemetry.ERRORS.labels(name, "item_too_large").inc()
                self.log.warning("item too large", source=name, id=item_id, bytes=size,
                                 limit=limit, title=item.title[:120])  # fmt: skip
        return oversized

    def failures(self, name: str) -> int:
        """Consecutive failed polls of a source (0 after a good one)."""
        health = self.health.get(name)
        return health.failures if health is not None else 0

    def poll_all(self) -> list[SourceRun]:
        """Poll every source once (`finsent ingest --once`)."""
        return [self.poll(name) for name in list(self.sources)]

    def _failed(self, name: str, reason: str, detail: str) -> None:
        telemetry.FETCHES.labels(name, "error").inc()
        telemetry.ERRORS.labels(name, reason).inc()
        health = self.health.setdefault(name, SourceHealth())
        health.failures += 1
        if health.failures in (1, self.settings.ingest.failing_after_intervals):
            self.log.warning("source failed", source=name, reason=reason, detail=detail[:500],
                             consecutive=health.failures)  # fmt: skip
        if health.failures >= self.settings.ingest.failing_after_intervals:
            telemetry.UNHEALTHY.labels(name, "failing").set(1)

    def _succeeded(self, name: str, run: SourceRun) -> None:
        telemetry.FETCHES.labels(name, "ok").inc()
        telemetry.ITEMS.labels(name, "new").inc(run.new)
        telemetry.ITEMS.labels(name, "duplicate").inc(run.duplicates)
        telemetry.LAST_SUCCESS.labels(name).set(time.time())
        telemetry.UNHEALTHY.labels(name, "failing").set(0)
        health = self.health.setdefault(name, SourceHealth())
        if health.failures >= self.settings.ingest.failing_after_intervals:
            self.log.info("source recovered", source=name)
        health.failures = 0
        finished = bool(getattr(self.sources.get(name), "exhausted", False))
        health.empty = 0 if run.new or finished else health.empty + 1  # a done replay is quiet
        silent = health.empty >= self.settings.ingest.failing_after_intervals
        telemetry.UNHEALTHY.labels(name, "silent").set(1 if silent else 0)
        if silent and health.empty == self.settings.ingest.failing_after_intervals:
            self.log.warning("source silent", source=name, polls=health.empty)
        health.new_total += run.new
        health.duplicate_total += run.duplicates
        if finished and not health.finished:
            health.finished = True
            if health.duplicate_total and not health.new_total:
                self._replay_already_ingested(name, health.duplicate_total)

    def _replay_already_ingested(self, name: str, count: int) -> None:
        """Say why a replay produces nothing: the state already holds every recorded id.

        A second `make run` would otherwise show zeros with no word of the reason.
        """
        assert self.state is not None
        path = self.state.path
        self.log.warning(
            "replay already ingested: every recorded item was seen in an earlier run, "
            "so nothing new flows from it",
            source=name, already_ingested=count, state_path=str(path),
            to_replay_again=f"stop finsent, delete {path} (and {path}-wal, {path}-shm "
            "if present) and start it again",
        )  # fmt: skip

    def cancel(self) -> None:
        """Shutdown: close every source's clients, so a fetch in progress fails at once."""
        for name, source in self.sources.items():
            try:
                source.close()
            except Exception as exc:  # noqa: BLE001 - cancelling must reach every source
                self.log.warning("source close failed", source=name, error=str(exc))

    def close(self) -> None:
        """Close sources, producer and state."""
        for source in self.sources.values():
            source.close()
        if self.producer is not None:
            self.producer.close()
        if self.state is not None:
            self.state.close()
