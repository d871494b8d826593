"""In-memory Kafka doubles the package ships, so stage logic is unit-tested without a broker.

Like ``bytewax.testing``: ``FakeConsumer`` holds topics as lists, hands out records the way
``KafkaConsumer.poll`` does (per partition, respecting pause and seek), runs rebalance
hooks, and records every commit; ``FakeProducer`` keeps every send and answers with a
completed future (or a refused one). Both write to one shared ``journal`` (a list of
strings), so a test can assert the order of effects: snapshot saved, then offsets committed.
Integration tests use the real Kafka; these are for the logic between poll and commit.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kafka import OffsetAndMetadata, TopicPartition
from kafka.errors import KafkaError, MessageSizeTooLargeError
from kafka.future import Future


@dataclass(frozen=True)
class FakeRecord:
    """The fields of a ``ConsumerRecord`` that stages read."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp: int = 0
    headers: list[tuple[str, bytes]] = field(default_factory=list)


@dataclass(frozen=True)
class Sent:
    """One record a ``FakeProducer`` was asked to send."""

    topic: str
    key: bytes | None
    value: bytes | None
    partition: int | None


class FakeProducer:
    """Keeps every send; ``refuse`` makes the next sends fail like a broker refusal.

    ``max_request_size`` refuses larger values at once (as ``KafkaProducer.send`` does);
    ``broker_max_bytes`` lets larger values fail in their future (a broker's refusal).
    """

    def __init__(self, journal: list[str] | None = None) -> None:
        self.sent: list[Sent] = []
        self.journal = journal if journal is not None else []
        self.refuse: str | None = None
        self.max_request_size: int | None = None
        self.broker_max_bytes: int | None = None
        self.closed = False

    def send(
        self,
        topic: str,
        value: bytes | None = None,
        key: bytes | None = None,
        partition: int | None = None,
        **_: Any,
    ) -> Future:
        """Record the send; the future is already done (succeeded unless refused)."""
        size = len(value or b"")
        if self.max_request_size is not None and size > self.max_request_size:
            raise MessageSizeTooLargeError(f"the message is {size} bytes when serialized")
        future = Future()
        if self.refuse is not None:
            future.failure(KafkaError(self.refuse))
            return future
        if self.broker_max_bytes is not None and size > self.broker_max_bytes:
            future.failure(MessageSizeTooLargeError(f"{size} bytes refused by the broker"))
            return future
        self.sent.append(Sent(topic, key, value, partition))
        self.journal.append(f"send {topic}")
        future.success(len(self.sent) - 1)
        return future

    def values(self, topic: str) -> list[bytes]:
        """The values sent to one topic, in order."""
        return [s.value for s in self.sent if s.topic == topic and s.value is not None]

    def flush(self, timeout: float | None = None) -> None:
        """Every send is already done."""
        self.journal.append("flush")

    def close(self, timeout: float | None = None) -> None:
        """Mark closed."""
        self.closed = True


class FakeConsumer:
    """Topics as lists of records; the group's assignment is every partition subscribed."""

    def __init__(self, partitions: Mapping[str, int], journal: list[str] | None = None) -> None:
        self.logs: dict[TopicPartition, list[FakeRecord]] = {
            TopicPartition(topic, p): []
            for topic, count in partitions.items()
            for p in range(count)
        }
        self.journal = journal if journal is not None else []
        self.positions: dict[TopicPartition, int] = {}
        self.commits: list[dict[TopicPartition, int]] = []
        self.committed_offsets: dict[TopicPartition, int] = {}
        self.committed_metadata: dict[TopicPartition, str] = {}
        self.listener: Any = None
        self._assigned: set[TopicPartition] = set()
        self._pending_assign: set[TopicPartition] = set()
        self._paused: set[TopicPartition] = set()
        self.fail_commit: str | None = None
        self.closed = False
        self.polls = 0

    # -- feeding -----------------------------------------------------------------------------

    def add(
        self, topic: str, partition: int, value: bytes | None, key: bytes | None = None,
        timestamp: int = 0,
    ) -> int:  # fmt: skip
        """Append one record; returns its offset."""
        log = self.logs[TopicPartition(topic, partition)]
        log.append(FakeRecord(topic, partition, len(log), key, value, timestamp))
        return len(log) - 1

    # -- group membership --------------------------------------------------------------------

    def subscribe(self, topics: Iterable[str], listener: Any = None) -> None:
        """Every partition of these topics is assigned on the next poll."""
        self.listener = listener
        wanted = set(topics)
        self._pending_assign = {tp for tp in self.logs if tp.topic in wanted}

    def assign(self, partitions: Iterable[TopicPartition]) -> None:
        """Manual assignment (no listener)."""
        self._assigned = set(partitions)

    def revoke(self, partitions: Iterable[TopicPartition]) -> None:
        """Simulate a rebalance taking partitions away (runs the listener like poll would)."""
        gone = set(partitions) & self._assigned
        if self.listener is not None:
            self.listener.on_partitions_revoked(gone)
        self._assigned -= gone
        for tp in gone:
            self.positions.pop(tp, None)
            self._paused.discard(tp)

    def reassign(self, partitions: Iterable[TopicPartition]) -> None:
        """Simulate a rebalance giving partitions (assigned on the next poll)."""
        self._pending_assign |= set(partitions)

    def assignment(self) -> set[TopicPartition]:
        """Partitions this member owns."""
        return set(self._assigned)

    # -- reading -----------------------------------------------------------------------------

    def poll(
        self, timeout_ms: int = 0, max_records: int | None = None, **_: Any
    ) -> dict[TopicPartition, list[FakeRecord]]:
        """Records after each owned, unpaused partition's position (never blocks)."""
        self.polls += 1
        if self._pending_assign:
            fresh, self._pending_assign = self._pending_assign - self._assigned, set()
            self._assigned |= fresh
            if self.listener is not None and fresh:
                self.listener.on_partitions_assigned(fresh)
        budget = max_records if max_records is not None else 500
        out: dict[TopicPartition, list[FakeRecord]] = {}
        for tp in sorted(self._assigned, key=lambda t: (t.topic, t.partition)):
            if tp in self._paused or budget <= 0:
                continue
            start = self.position(tp)
            records = self.logs[tp][start : start + budget]
            if records:
                out[tp] = records
                self.positions[tp] = start + len(records)
                budget -= len(records)
        return out

    def position(self, tp: TopicPartition) -> int:
        """Next offset to fetch (the committed offset, else 0, before the first fetch)."""
        if tp not in self.positions:
            self.positions[tp] = self.committed_offsets.get(tp, 0)
        return self.positions[tp]

    def seek(self, tp: TopicPartition, offset: int) -> None:
        """Fetch from ``offset`` next."""
        self.positions[tp] = offset

    def highwater(self, tp: TopicPartition) -> int:
        """The partition's end offset."""
        return len(self.logs[tp])

    def end_offsets(self, partitions: Iterable[TopicPartition]) -> dict[TopicPartition, int]:
        """End offset per partition."""
        return {tp: len(self.logs[tp]) for tp in partitions}

    def partitions_for_topic(self, topic: str) -> set[int]:
        """Partition numbers of a topic."""
        return {tp.partition for tp in self.logs if tp.topic == topic}

    def pause(self, *partitions: TopicPartition) -> None:
        """Stop fetching these partitions."""
        self._paused |= set(partitions)

    def resume(self, *partitions: TopicPartition) -> None:
        """Fetch these partitions again."""
        self._paused -= set(partitions)

    def paused(self) -> set[TopicPartition]:
        """Paused partitions."""
        return set(self._paused)

    # -- committing --------------------------------------------------------------------------

    def commit(self, offsets: Mapping[TopicPartition, Any] | None = None) -> None:
        """Record the commit (``OffsetAndMetadata`` or plain offsets)."""
        if self.fail_commit is not None:
            raise KafkaError(self.fail_commit)
        if offsets is None:
            plain = {tp: self.position(tp) for tp in self._assigned}
        else:
            plain = {tp: int(getattr(o, "offset", o)) for tp, o in offsets.items()}
        self.commits.append(plain)
        self.committed_offsets.update(plain)
        for tp, o in (offsets or {}).items():
            self.committed_metadata[tp] = str(getattr(o, "metadata", "") or "")
        self.journal.append("commit " + ",".join(f"{tp.partition}:{o}" for tp, o in sorted(
            plain.items(), key=lambda kv: kv[0].partition)))  # fmt: skip

    def committed(self, tp: TopicPartition, metadata: bool = False) -> Any:
        """The group's committed offset of a partition.

        With ``metadata``: the whole ``OffsetAndMetadata`` (or None), as kafka-python gives it.
        """
        offset = self.committed_offsets.get(tp)
        if not metadata or offset is None:
            return offset
        return OffsetAndMetadata(offset, self.committed_metadata.get(tp, ""), -1)

    def close(self) -> None:
        """Leave the group."""
        self.closed = True
