"""In-memory doubles the package ships for tests and notebooks (like ``bytewax.testing``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from kafka.errors import KafkaError

from finsent.config_sources import SourceBase
from finsent.schemas import RawItem
from ingest.errors import SourceError
from ingest.sources.base import Poll, SourceContext


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


class ListSource:
    """A source whose polls hand out prepared entries (dicts as the feed parsers make them).

    Each poll takes the next batch from ``batches`` (empty once they run out); an entry of
    a batch that is a ``SourceError`` fails that poll instead.
    """

    def __init__(self, config: SourceBase, batches: Sequence[Sequence[Any]]) -> None:
        self.config = config
        self.batches = [list(batch) for batch in batches]
        self.context: SourceContext | None = None
        self.closed = False

    def setup(self, context: SourceContext) -> None:
        """Keep the item factory."""
        self.context = context

    def poll(self) -> Poll:
        """The next batch, normalised into items."""
        assert self.context is not None
        batch = self.batches.pop(0) if self.batches else []
        for entry in batch:
            if isinstance(entry, SourceError):
                raise entry
        now = datetime.now(UTC)
        made = [self.context.items.make(fetched_at=now, **entry) for entry in batch]
        return Poll([item for item in made if item is not None])

    def close(self) -> None:
        """Mark closed."""
        self.closed = True
