"""In-memory doubles the package ships for tests and notebooks (like ``bytewax.testing``)."""

from __future__ import annotations

from collections.abc import Sequence

from kafka.errors import KafkaError

from finsent.schemas import RawItem


class ListProducer:
    """Stands in for ``ItemProducer``: keeps what was sent; can be told to fail."""

    def __init__(self) -> None:
        self.items: list[RawItem] = []
        self.fail = False

    def send(self, items: Sequence[RawItem]) -> list[str]:
        """Acknowledge (keep) the items, or raise like an unreachable broker."""
        if self.fail:
            raise KafkaError("simulated: brokers unavailable")
        self.items.extend(items)
        return [item.id for item in items]

    def close(self) -> None:
        """Nothing to release."""
