"""`finsent alerts tail`: follow alert events on the alerts topic in the terminal."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

from kafka import TopicPartition

from finsent.config import Settings
from finsent.kafka import make_consumer, partition_count
from finsent.schemas import Alert, SchemaError, decode


def format_alert(alert: Alert) -> str:
    """One human-readable line."""
    return (
        f"{alert.created_at:%Y-%m-%d %H:%M:%S}Z {alert.status:<9} {alert.severity:<8} "
        f"{alert.key:<26} {alert.observed:g} negative vs {alert.expected:.1f} expected "
        f"(x{alert.ratio:.1f}, p={alert.p_value:.1e}) window {alert.window_start:%H:%M}-"
        f"{alert.window_end:%H:%M}Z"
        + (f"\n    top: {alert.samples[0].title[:100]}" if alert.samples else "")
    )


def follow(
    settings: Settings, last: int, stop: threading.Event, on_error: Callable[[str], None]
) -> Iterator[Alert]:
    """The last ``last`` events of each partition, then new ones as they come, until stopped."""
    topic = settings.kafka.topics.alerts
    consumer: Any = make_consumer(settings.kafka, None)
    try:
        partitions = [TopicPartition(topic, p) for p in range(partition_count(consumer, topic))]
        consumer.assign(partitions)
        ends = consumer.end_offsets(partitions)
        for tp in partitions:
            consumer.seek(tp, max(0, ends[tp] - last))
        while not stop.is_set():
            batch = consumer.poll(timeout_ms=500)
            records = sorted((r for rs in batch.values() for r in rs), key=lambda r: r.timestamp)
            for record in records:
                try:
                    yield decode(Alert, record.value)
                except SchemaError as exc:
                    on_error(f"partition {record.partition} offset {record.offset}: {exc.reason}")
    finally:
        consumer.close()
