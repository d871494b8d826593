"""Event-time alignment of the partitions one consumer reads.

A backlog read from several partitions arrives one partition's hours after another's, and
a downstream event-time window would drop the later ones as late. The aligner buffers
records per partition and releases them in event-time order, and only while every assigned
partition that still has unread records has some buffered (Kafka Streams does the same per
task); a partition silent for ``idle_s`` stops holding the others back. The caller commits
the offsets of what was released, so what is still buffered is re-read after a restart.

A partition that is read to its end is not necessarily done: the stage writing it may be
behind (a second classifier still working through its backlog). ``upstream_busy`` tells
which partitions still have work upstream; those hold the others back while empty, up to
``upstream_wait_s`` without data (a stage that is down must not stall the rest for ever).
"""

from __future__ import annotations

import heapq
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import Any, Generic, TypeVar

from kafka import OffsetAndMetadata

T = TypeVar("T")


class EventTimeAligner(Generic[T]):
    """Per-partition buffers released in merged event-time order."""

    def __init__(
        self,
        consumer: Any,
        idle_s: float = 5.0,
        max_buffered: int = 20_000,
        upstream_busy: Callable[[Any], bool] | None = None,
        upstream_wait_s: float = 120.0,
    ) -> None:
        self.consumer = consumer
        self.idle_s = idle_s
        self.max_buffered = max_buffered
        self.upstream_busy = upstream_busy
        self.upstream_wait_s = upstream_wait_s
        self.created = time.monotonic()
        self.buffers: dict[Any, deque[tuple[datetime, Any, T]]] = {}
        self.last_data: dict[Any, float] = {}

    def add(self, tp: Any, at: datetime, record: Any, value: T) -> None:
        """Buffer one decoded record of a partition (records of a partition in offset order)."""
        self.buffers.setdefault(tp, deque()).append((at, record, value))
        self.last_data[tp] = time.monotonic()

    def total(self) -> int:
        """Records of every partition waiting to be released."""
        return sum(len(buffer) for buffer in self.buffers.values())

    def buffered(self, tp: Any) -> int:
        """Records of a partition waiting to be released."""
        return len(self.buffers.get(tp, ()))

    def first_offset(self, tp: Any) -> int | None:
        """The offset of the partition's oldest buffered record (None: nothing buffered)."""
        buffer = self.buffers.get(tp)
        return int(buffer[0][1].offset) if buffer else None

    def progress_report(
        self, partitions: Iterable[Any], busy_if: Callable[[Any], bool]
    ) -> tuple[list[int], list[int]]:
        """(busy, idle) partition numbers for a progress marker.

        Idle: read to the end at the last fetch, nothing buffered, and not ``busy_if``.
        """
        busy: list[int] = []
        idle: list[int] = []
        for tp in partitions:
            done = self.caught_up(tp) and not self.buffered(tp) and not busy_if(tp)
            (idle if done else busy).append(tp.partition)
        return sorted(busy), sorted(idle)

    def caught_up(self, tp: Any) -> bool:
        """The consumer has read everything the partition had at the last fetch."""
        highwater = self.consumer.highwater(tp)
        return highwater is not None and self.consumer.position(tp) >= highwater

    def _holding_back(self, assigned: set[Any], now: float) -> bool:
        for tp in assigned:
            if self.buffers.get(tp):
                continue
            if self.upstream_busy is not None and self.upstream_busy(tp):
                if now - self.last_data.get(tp, self.created) < self.upstream_wait_s:
                    return True  # more is coming from upstream: wait for it (a while)
                continue
            if self.caught_up(tp):
                continue
            if now - self.last_data.get(tp, 0.0) < self.idle_s:
                return True  # it has unread records: wait for them (a while)
        return False

    def release(self, limit: int | None = None) -> Iterator[tuple[Any, Any, T]]:
        """(partition, record, value) in event-time order, as far as alignment allows."""
        assigned = set(self.consumer.assignment())
        for tp in list(self.buffers):
            if tp not in assigned:  # revoked: the new owner re-reads what was not committed
                del self.buffers[tp]
        now = time.monotonic()
        if self._holding_back(assigned, now):
            return
        heap = [(b[0][0], i, tp) for i, (tp, b) in enumerate(self.buffers.items()) if b]
        heapq.heapify(heap)
        released = 0
        while heap and (limit is None or released < limit):
            _, i, tp = heapq.heappop(heap)
            buffer = self.buffers[tp]
            _, record, value = buffer.popleft()
            released += 1
            yield tp, record, value
            if buffer:
                heapq.heappush(heap, (buffer[0][0], i, tp))
            elif self._holding_back(assigned, now):
                return  # this partition ran dry: wait for its next records before going on

    @staticmethod
    def offsets(released: list[tuple[Any, Any, T]]) -> dict[Any, OffsetAndMetadata]:
        """Offsets to commit after the released records are durable downstream."""
        offsets: dict[Any, OffsetAndMetadata] = {}
        for tp, record, _ in released:
            offsets[tp] = OffsetAndMetadata(record.offset + 1, "", -1)
        return offsets

    def pause_full(self) -> None:
        """Bound memory: stop fetching partitions with a long buffer until it drains."""
        paused = set(self.consumer.paused())
        for tp, buffer in self.buffers.items():
            if len(buffer) >= self.max_buffered and tp not in paused:
                self.consumer.pause(tp)
            elif len(buffer) < self.max_buffered and tp in paused:
                self.consumer.resume(tp)
