"""A list-backed item sink the package ships for tests (like ``bytewax.testing``)."""

from __future__ import annotations

from alerting.index.elasticsearch import FlushResult, Rejected
from finsent.schemas import ScoredItem


class ListSink:
    """Keeps what was flushed; items whose id is in ``refuse`` are rejected with that reason."""

    def __init__(self) -> None:
        self.pending: list[ScoredItem] = []
        self.flushed: list[ScoredItem] = []
        self.refuse: dict[str, str] = {}
        self.flushes = 0

    def add(self, item: ScoredItem) -> None:
        """Buffer one item."""
        self.pending.append(item)

    def flush(self) -> FlushResult:
        """Keep the buffered items (by id, like ``_id``), reject the refused ones."""
        self.flushes += 1
        result = FlushResult()
        for item in self.pending:
            if item.id in self.refuse:
                result.rejected.append(Rejected(item, 400, self.refuse[item.id]))
            else:
                self.flushed.append(item)
                result.indexed += 1
        self.pending = []
        return result
