"""The one Kafka loop every consuming stage runs on.

Per round: poll (up to ``max_records``, for at most ``max_wait_ms`` after the first record)
-> ``Handler.refresh`` -> decode with the stage's schema (an undecodable record goes to the
dead-letter topic with its reason, counted in ``finsent_dead_letters_total{stage,reason}``
and logged once per reason) -> ``Handler.handle`` -> when due: ``Handler.flush`` (sinks,
snapshots) -> wait until the brokers acknowledged every record produced -> commit -> and
only then ``Handler.committed``. What is committed per partition is the offset after the
last record handled, or the first one the handler still holds (``Handler.held``), so a
buffered record is re-read after a crash and a commit never runs ahead of an output
(at-least-once; stable ids make the repeats harmless downstream).

Slow work pauses every assigned partition and keeps polling (``paused`` + ``keep_alive``),
so a slow batch never exceeds ``max_poll_interval_ms``; records a keep-alive poll returns
(a partition assigned meanwhile) wait for the next round. Rebalances reach the handler
through ``assigned``/``revoked``; a commit refused after a rebalance is logged (the new
owner re-reads). A round that raises marks the loop failed: ``close`` then commits nothing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from kafka import ConsumerRebalanceListener, OffsetAndMetadata, TopicPartition
from kafka.errors import (
    CorruptRecordError,
    InvalidRecordError,
    KafkaError,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
)

from finsent import telemetry
from finsent.config import KafkaSettings
from finsent.kafka import (
    AckedProducer,
    ConsumerClient,
    dead_letter,
    flush,
    make_consumer,
    make_producer,
)
from finsent.logs import get_logger
from finsent.schemas import SchemaError
from finsent.stage.handler import Handler, Received

T = TypeVar("T")

DEAD_PREFIX = "dead:"
"""Commit metadata: offsets past the committed one that were already dead-lettered."""
MAX_REMEMBERED = 200
"""At most this many are remembered (the group coordinator caps metadata at 4 KB)."""
UNSENDABLE = (MessageSizeTooLargeError, RecordListTooLargeError, InvalidRecordError,
              CorruptRecordError)  # fmt: skip
"""Refusals that no retry can change: the record that made the output is dead-lettered."""


@dataclass(frozen=True)
class LoopOptions:
    """How one stage's loop polls and where its dead letters go."""

    stage: str
    """Label of the stage in metrics and logs."""
    topics: Sequence[str]
    """Topics the consumer subscribes to."""
    deadletter_topic: str
    ack_timeout_s: float
    """How long to wait for produce acknowledgements before failing the round, s."""
    max_records: int = 500
    """Records per round at most."""
    poll_timeout_ms: int = 500
    """How long an idle round waits for the first record, ms."""
    max_wait_ms: int = 0
    """After the first record, keep polling until ``max_records`` or this, ms (0: one poll)."""
    max_poll_interval_ms: int = 300_000
    """The consumer's ``max_poll_interval_ms`` (keep-alive polls stay well inside it)."""
    keep_alive_share: float = 0.25
    """A paused consumer is polled once this share of ``max_poll_interval_ms`` has passed."""

    @classmethod
    def of(
        cls, kafka: KafkaSettings, stage: str, topics: Sequence[str], **options: Any
    ) -> LoopOptions:
        """Options for a stage of this Kafka config: its dead-letter topic and ack timeout."""
        return cls(stage=stage, topics=topics, deadletter_topic=kafka.topics.deadletter,
                   ack_timeout_s=kafka.request_timeout_ms / 1000, **options)  # fmt: skip


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, loop: StageLoop[Any]) -> None:
        self.loop = loop

    def on_partitions_revoked(self, revoked: Any) -> None:
        self.loop.on_revoked(list(revoked))

    def on_partitions_assigned(self, assigned: Any) -> None:
        self.loop.on_assigned(list(assigned))


class StageLoop(Generic[T]):
    """Poll, decode, dead-letter, handle, flush, acknowledge, commit: one stage member."""

    def __init__(
        self,
        consumer: ConsumerClient,
        producer: AckedProducer,
        handler: Handler[T],
        options: LoopOptions,
    ) -> None:
        self.consumer = consumer
        self.producer = producer
        self.handler = handler
        self.options = options
        self.log = get_logger(options.stage)
        self.positions: dict[Any, int] = {}
        """Next offset per partition: after the last record decoded or dead-lettered."""
        self.committed: dict[Any, tuple[int, str]] = {}
        self.dead_ahead: dict[Any, set[int]] = {}
        """Dead-lettered offsets not yet behind the committed offset (kept in its metadata)."""
        self.done_before: dict[Any, set[int]] = {}
        """Offsets a previous member already dead-lettered (read from the commit metadata)."""
        self._unread: set[Any] = set()
        self._outputs: list[tuple[Any, Any, str]] = []  # (future, origin record, topic)
        self.failed = False
        self.dead_lettered = 0
        """Records dead-lettered since the loop started."""
        self.last_poll = time.monotonic()
        self._early: list[Any] = []
        self._seeked: set[Any] = set()
        self._logged_reasons: set[str] = set()
        handler.loop = self

    @classmethod
    def connect(
        cls,
        settings: KafkaSettings,
        group_id: str,
        handler: Handler[T],
        options: LoopOptions,
        **consumer_options: Any,
    ) -> StageLoop[T]:
        """A loop on a new consumer (subscribed, rebalance hooks installed) and producer."""
        consumer = make_consumer(
            settings, group_id, max_poll_records=options.max_records,
            max_poll_interval_ms=options.max_poll_interval_ms, **consumer_options,
        )  # fmt: skip
        producer = AckedProducer(make_producer(settings))
        loop = cls(consumer, producer, handler, options)
        loop.subscribe()
        return loop

    def subscribe(self) -> None:
        """Join the group on the options' topics with the loop's rebalance hooks."""
        self.consumer.subscribe(list(self.options.topics), listener=_Listener(self))

    # -- rebalance ---------------------------------------------------------------------------

    def on_assigned(self, partitions: Collection[Any]) -> None:
        """Partitions joined (inside poll); their commit metadata is read before their records."""
        self._unread.update(partitions)
        self.handler.assigned(partitions)

    def on_revoked(self, partitions: Collection[Any]) -> None:
        """Partitions left (inside poll): forget them; the new owner re-reads."""
        gone = set(partitions)
        for tp in gone:
            self.positions.pop(tp, None)
            self.committed.pop(tp, None)
            self.dead_ahead.pop(tp, None)
            self.done_before.pop(tp, None)
            self._unread.discard(tp)
        self._early = [r for r in self._early if _tp(r) not in gone]
        self.handler.revoked(partitions)

    # -- one round ---------------------------------------------------------------------------

    def poll(self, wanted: int | None = None) -> list[Any]:
        """Records until ``wanted`` (default ``max_records``) or ``max_wait_ms`` after the first."""
        wanted = wanted or self.handler.capacity() or self.options.max_records
        records, self._early = self._early, []
        deadline: float | None = None
        while len(records) < wanted:
            if deadline is None:
                remaining_ms = float(self.options.poll_timeout_ms)
            else:
                remaining_ms = (deadline - time.monotonic()) * 1000
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
                deadline = time.monotonic() + self.options.max_wait_ms / 1000
        # a later poll of this round may have rebalanced: records of partitions this member
        # no longer owns are the new owner's (committing them here would skip them there)
        owned = set(self.consumer.assignment())
        return [r for r in records if _tp(r) in owned]

    def has_early(self, tp: Any) -> bool:
        """Records of ``tp`` a keep-alive poll fetched wait for the next round."""
        return any(_tp(r) == tp for r in self._early)

    def seek(self, tp: Any, offset: int) -> None:
        """Re-position a partition (from ``Handler.refresh``): this round drops its records."""
        self.consumer.seek(tp, offset)
        self.positions[tp] = offset
        self._seeked.add(tp)

    def decode(self, records: Sequence[Any]) -> list[Received[T]]:
        """Decoded records in poll order; the undecodable ones dead-lettered (and done)."""
        decoded: list[Received[T]] = []
        for record in records:
            tp = _tp(record)
            if tp in self._seeked:
                continue  # fetched from the old position; the seek re-reads from the new one
            if tp in self._unread:
                self._read_dead_letters(tp)
            self.positions[tp] = record.offset + 1
            if record.offset in self.done_before.get(tp, ()):
                continue  # dead-lettered before a restart: done, never again
            if record.value is None:
                self.dead_letter(record, "empty record (no value)", "empty")
                continue
            try:
                value = self.handler.decode(record)
            except SchemaError as exc:
                self.dead_letter(record, exc.reason, exc.kind)
                continue
            decoded.append(Received(tp, record, value))
        self._seeked.clear()
        return decoded

    def _read_dead_letters(self, tp: Any) -> None:
        """Which records ahead of the committed offset a previous member dead-lettered."""
        self._unread.discard(tp)
        try:
            committed = self.consumer.committed(tp, metadata=True)
        except KafkaError as exc:  # not fatal: at worst a poison record is dead-lettered twice
            self.log.warning("commit metadata unreadable", partition=tp.partition, error=str(exc))
            return
        metadata = str(getattr(committed, "metadata", "") or "")
        if metadata.startswith(DEAD_PREFIX):
            offsets = metadata.removeprefix(DEAD_PREFIX).split(",")
            self.done_before[tp] = {int(o) for o in offsets if o.isdigit()}

    def run_once(self) -> int:
        """One round; returns the records it consumed (decoded or dead-lettered)."""
        try:
            records = self.poll()
            self.handler.refresh()
            batch = self.decode(records)
            self.handler.handle(batch)
            active = bool(records) or bool(self.producer.pending)
            if self.handler.checkpoint_due(active):
                self.checkpoint()
        except BaseException:
            self.failed = True
            raise
        return len(records)

    def run(self, stop: threading.Event) -> None:
        """Rounds until ``stop`` is set; the round in hand is finished first."""
        while not stop.is_set():
            self.run_once()

    # -- outputs -----------------------------------------------------------------------------

    def dead_letter(self, record: Any, reason: str, kind: str = "invalid") -> None:
        """Send a record the stage cannot use to the dead-letter topic; it counts as done.

        ``kind`` is the metric's ``reason`` label (a few fixed words); the first dead letter
        of each kind is logged with its full reason, later ones are counted.
        """
        dead_letter(self.producer, self.options.deadletter_topic, self.options.stage, record,
                    reason)  # fmt: skip
        telemetry.DEAD_LETTERS.labels(self.options.stage, kind).inc()
        self.dead_lettered += 1
        self.dead_ahead.setdefault(_tp(record), set()).add(int(record.offset))
        if kind not in self._logged_reasons:
            self._logged_reasons.add(kind)
            self.log.warning(
                "dead-lettered", kind=kind, reason=reason[:300], topic=record.topic,
                partition=record.partition, offset=record.offset,
                note="later dead letters of this kind are counted, not logged",
            )  # fmt: skip

    def produce(
        self, origin: Any, topic: str, value: bytes, key: bytes | None = None,
        partition: int | None = None,
    ) -> None:  # fmt: skip
        """Send an output of the consumed record ``origin``.

        An output the brokers can never take (too large, invalid) dead-letters ``origin``
        instead, so one poison record never stops the stage: at once when the producer
        refuses it, or at the checkpoint when a broker does.
        """
        try:
            future = self.producer.send(topic, key=key, value=value, partition=partition)
        except UNSENDABLE as exc:
            self.dead_letter(origin, f"output to {topic} refused: {exc}", "unsendable")
            return
        self._outputs.append((future, origin, topic))

    def _refused_outputs(self) -> None:
        """Dead-letter the records whose outputs a broker refused for good."""
        outputs, self._outputs = self._outputs, []
        if not outputs:
            return
        flush(self.producer.producer, self.options.ack_timeout_s)
        refused = {
            id(future): (origin, topic, future.exception)
            for future, origin, topic in outputs
            if future.is_done and future.failed() and isinstance(future.exception, UNSENDABLE)
        }
        if not refused:
            return
        self.producer.pending = [f for f in self.producer.pending if id(f) not in refused]
        for origin, topic, error in refused.values():
            self.dead_letter(origin, f"output to {topic} refused: {error}", "unsendable")

    def checkpoint(self) -> None:
        """Flush the handler, wait for every acknowledgement, then commit what is done."""
        self.handler.flush()
        self._refused_outputs()
        self.producer.acknowledge(self.options.ack_timeout_s)
        offsets: dict[Any, tuple[int, str]] = {}
        for tp, position in self.positions.items():
            held = self.handler.held(tp)
            offset = position if held is None else held
            ahead = self.dead_ahead.get(tp, set()) | self.done_before.get(tp, set())
            remembered = sorted(o for o in ahead if o >= offset)[:MAX_REMEMBERED]
            metadata = DEAD_PREFIX + ",".join(map(str, remembered)) if remembered else ""
            if self.committed.get(tp) != (offset, metadata):
                offsets[tp] = (offset, metadata)
        if offsets:
            try:
                self.consumer.commit(
                    {tp: OffsetAndMetadata(o, m, -1) for tp, (o, m) in offsets.items()}
                )
            except KafkaError as exc:  # lost the partitions meanwhile: the new owner re-reads
                self.log.warning("commit failed", error=str(exc))
                return
            self.committed.update(offsets)
            for tp, (offset, _) in offsets.items():
                for table in (self.dead_ahead, self.done_before):
                    if tp in table:
                        table[tp] = {o for o in table[tp] if o >= offset}
        self.handler.committed()

    # -- slow work ---------------------------------------------------------------------------

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Stop fetching every assigned partition while the body runs (call ``keep_alive``)."""
        running = set(self.consumer.assignment()) - set(self.consumer.paused())
        self.consumer.pause(*running)
        try:
            yield
        finally:
            self.consumer.resume(*(running & set(self.consumer.assignment())))

    def keep_alive(self) -> None:
        """Poll the paused consumer once a share of ``max_poll_interval_ms`` has passed."""
        interval_s = self.options.max_poll_interval_ms / 1000
        if time.monotonic() - self.last_poll < self.options.keep_alive_share * interval_s:
            return
        self._poll_paused(0)

    def wait_paused(self, seconds: float) -> None:
        """Backpressure: wait without fetching, polling so the group keeps this member."""
        with self.paused():
            deadline = time.monotonic() + seconds
            while (left := deadline - time.monotonic()) > 0:
                self._poll_paused(int(min(0.2, left) * 1000))

    def _poll_paused(self, timeout_ms: int) -> None:
        batches = self.consumer.poll(timeout_ms=timeout_ms)
        self.last_poll = time.monotonic()
        self._early += [r for part in batches.values() for r in part]

    # -- end ---------------------------------------------------------------------------------

    def close(self) -> None:
        """Last checkpoint (unless a round failed), then leave the group and close."""
        try:
            if not self.failed:
                self.checkpoint()
        finally:
            try:
                self.handler.close()
            finally:
                self.consumer.close()
                self.producer.close()


def _tp(record: Any) -> Any:
    return TopicPartition(record.topic, record.partition)
