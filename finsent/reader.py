"""Reading topics outside any consumer group: the last records of a partition, a live tail.

Stages consume through the stage loop (``finsent.stage.loop``); tools and state stores that
only look at a topic (the latest detector snapshot, ``finsent alerts tail``) read with
these, on a group-less consumer that commits nothing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

from kafka import TopicPartition

from finsent.config import KafkaSettings
from finsent.kafka import make_consumer, partition_count


def read_last(settings: KafkaSettings, topic: str, partition: int, count: int) -> list[Any]:
    """The last ``count`` records of one partition, oldest first (``TimeoutError`` if slow)."""
    consumer = make_consumer(settings, None, consumer_timeout_ms=2000)
    try:
        tp = TopicPartition(topic, partition)
        consumer.assign([tp])
        end = consumer.end_offsets([tp])[tp]
        if end == 0:
            return []
        consumer.seek(tp, max(end - count, 0))
        records: list[Any] = []
        deadline = time.monotonic() + settings.request_timeout_ms / 1000
        while consumer.position(tp) < end:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{topic}[{partition}]: not read to offset {end} in time")
            for batch in consumer.poll(timeout_ms=1000).values():
                records += [r for r in batch if r.offset < end]
        return records
    finally:
        consumer.close()


def follow(
    settings: KafkaSettings, topic: str, last: int, stop: threading.Event, consumer: Any = None
) -> Iterator[Any]:
    """The last ``last`` records of the topic, then new ones as they come, until stopped.

    ``last`` counts across partitions: the newest ``last`` by timestamp, not ``last`` of
    each. Each later poll's records are yielded in timestamp order. ``consumer``: a
    group-less consumer to use (default: a new one).
    """
    consumer = consumer if consumer is not None else make_consumer(settings, None)
    try:
        partitions = [TopicPartition(topic, p) for p in range(partition_count(consumer, topic))]
        consumer.assign(partitions)
        ends = consumer.end_offsets(partitions)
        for tp in partitions:
            consumer.seek(tp, max(0, ends[tp] - last))
        backlog: list[Any] = []
        newer: list[Any] = []
        deadline = time.monotonic() + settings.request_timeout_ms / 1000
        while any(consumer.position(tp) < ends[tp] for tp in partitions):
            if stop.is_set() or time.monotonic() > deadline:
                break
            for tp, records in consumer.poll(timeout_ms=500).items():
                for record in records:
                    (backlog if record.offset < ends[tp] else newer).append(record)
        backlog.sort(key=lambda r: r.timestamp)
        yield from backlog[-last:] if last > 0 else []
        yield from sorted(newer, key=lambda r: r.timestamp)
        while not stop.is_set():
            batch = consumer.poll(timeout_ms=500)
            yield from sorted((r for rs in batch.values() for r in rs), key=lambda r: r.timestamp)
    finally:
        consumer.close()
