"""Produce RawItems keyed by id; report which ones the brokers acknowledged."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kafka.errors import KafkaError

from finsent.config import KafkaSettings
from finsent.kafka import close_producer, flush, make_producer
from finsent.schemas import RawItem, encode


class Pending:
    """Items handed to the producer whose acknowledgements are still to be collected."""

    def __init__(self, producer: Any, futures: list[tuple[str, Any]], timeout_s: float) -> None:
        self.producer = producer
        self.futures = futures
        self.timeout_s = timeout_s

    def wait(self) -> list[str]:
        """Block until acknowledged; returns the ids, or raises KafkaError if any failed."""
        if not self.futures:
            return []
        flush(self.producer, self.timeout_s)
        acknowledged, failures = [], []
        for item_id, future in self.futures:
            try:
                future.get(timeout=self.timeout_s)
                acknowledged.append(item_id)
            except KafkaError as exc:
                failures.append(f"{item_id}: {exc}")
        if failures:
            raise KafkaError(
                f"{len(failures)} of {len(self.futures)} items not acknowledged: {failures[0]}"
            )
        return acknowledged


class ItemProducer:
    """acks=all, idempotent, compressed, batched (see ``finsent.kafka.make_producer``)."""

    def __init__(self, settings: KafkaSettings, producer: Any = None) -> None:
        self.topic = settings.topics.raw
        self.timeout_s = settings.request_timeout_ms / 1000
        self.producer = producer if producer is not None else make_producer(settings)

    def send_async(self, items: Sequence[RawItem]) -> Pending:
        """Hand items to the producer; collect acknowledgements later (pipelining)."""
        futures = [
            (item.id, self.producer.send(self.topic, key=item.id.encode(), value=encode(item)))
            for item in items
        ]
        return Pending(self.producer, futures, self.timeout_s)

    def send(self, items: Sequence[RawItem]) -> list[str]:
        """Produce and wait; returns the ids acknowledged (all, or raises KafkaError)."""
        return self.send_async(items).wait()

    def close(self) -> None:
        """Flush and close."""
        close_producer(self.producer, self.timeout_s)
