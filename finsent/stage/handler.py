"""What a Kafka stage implements on the one loop (``finsent.stage.loop.StageLoop``).

The loop owns polling, decoding, dead letters, produce acknowledgements, commits and
rebalances; a stage is the ``handle``/``flush`` logic between them, like a quix-streams
sink. The default hooks do nothing, so a simple stage is one class with two methods.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from finsent.kafka import AckedProducer
from finsent.schemas import Message, decode

T = TypeVar("T")


class LoopContext(Protocol):
    """What a handler may use of the loop that drives it (``StageLoop`` implements it)."""

    @property
    def producer(self) -> AckedProducer:
        """Sends here are acknowledged before the loop commits."""
        ...

    @property
    def positions(self) -> Mapping[Any, int]:
        """Next offset per partition, after the last record decoded or dead-lettered."""
        ...

    def dead_letter(self, record: Any, reason: str, kind: str = "invalid") -> None:
        """Dead-letter a record the stage cannot use (it counts as done)."""
        ...

    def produce(
        self, origin: Any, topic: str, value: bytes, key: bytes | None = None,
        partition: int | None = None,
    ) -> None:  # fmt: skip
        """Send an output of ``origin``; one the brokers can never take dead-letters it."""
        ...

    def paused(self) -> AbstractContextManager[None]:
        """Stop fetching while slow work runs (call ``keep_alive`` inside)."""
        ...

    def keep_alive(self) -> None:
        """Poll the paused consumer when due, so the group keeps this member."""
        ...

    def wait_paused(self, seconds: float) -> None:
        """Backpressure: wait without fetching, still polling."""
        ...

    def seek(self, tp: Any, offset: int) -> None:
        """Re-position a partition (this round drops its fetched records)."""
        ...

    def has_early(self, tp: Any) -> bool:
        """Records of ``tp`` fetched by a keep-alive poll wait for the next round."""
        ...


@dataclass(frozen=True)
class Received(Generic[T]):
    """One consumed record and its decoded value."""

    tp: Any
    """The record's ``TopicPartition``."""
    record: Any
    """The ``ConsumerRecord`` (offset, key, timestamp, raw value)."""
    value: T

    @property
    def offset(self) -> int:
        """The record's offset in its partition."""
        return int(self.record.offset)


class Handler(ABC, Generic[T]):
    """The logic of one Kafka stage; subclasses set ``schema`` and implement ``handle``.

    Lifecycle per round, driven by the loop: poll -> ``refresh`` -> decode (undecodable
    records are dead-lettered by the loop, never handed in) -> ``handle`` (every round, the
    batch may be empty: buffered work can become ready by time alone) -> when
    ``checkpoint_due``: ``flush`` -> produce acknowledgements -> commit -> ``committed``.
    """

    schema: type[Message]
    """The message model every record is decoded with."""

    loop: LoopContext
    """Set by the loop that drives the handler: producer, dead letters, pause, positions."""

    def decode(self, record: Any) -> T:
        """The record's value as the stage's type; ``SchemaError`` dead-letters it."""
        value: T = decode(self.schema, record.value)  # type: ignore[assignment]
        return value

    def capacity(self) -> int | None:
        """Records wanted this round (None: the loop's ``max_records``)."""
        return None

    def refresh(self) -> None:
        """After each poll, before its records are decoded (e.g. restore adopted state)."""

    @abstractmethod
    def handle(self, batch: Sequence[Received[T]]) -> None:
        """Act on one round's decoded records: produce through ``self.loop.producer``."""

    def held(self, tp: Any) -> int | None:
        """The first offset of ``tp`` handed in and not yet done (buffered); None: none."""
        return None

    def checkpoint_due(self, active: bool) -> bool:
        """Checkpoint now? ``active``: this round consumed or produced something."""
        return active

    def flush(self) -> None:
        """Make the outputs of everything handed in durable (sinks, snapshots)."""

    def committed(self) -> None:
        """Offsets were committed (e.g. wake the sender threads)."""

    def assigned(self, partitions: Collection[Any]) -> None:
        """Partitions joined this member (runs inside poll: no blocking I/O)."""

    def revoked(self, partitions: Collection[Any]) -> None:
        """Partitions left this member (runs inside poll: drop their state, no I/O)."""

    def close(self) -> None:
        """Release what the handler opened (after the loop's last checkpoint)."""
