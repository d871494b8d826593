"""The contract every source implements, and what a poll returns."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from finsent.config_sources import SourceBase
from finsent.schemas import RawItem
from ingest.items import ItemFactory
from ingest.state import StateStore


@dataclass
class Poll:
    """Items of one poll and the source state to store once they are acknowledged."""

    items: list[RawItem]
    state: dict[str, str | None] = field(default_factory=dict)
    problems: list[tuple[str, str]] = field(default_factory=list)  # (reason, detail), non-fatal
    # Sources that cannot fetch the same items again (a replay) take back what Kafka refused.
    requeue: Callable[[list[RawItem]], None] | None = None


@dataclass
class SourceContext:
    """What a source gets at setup."""

    state: StateStore
    items: ItemFactory


class Source(Protocol):
    """setup() once, poll() on schedule, close() at shutdown."""

    config: SourceBase

    def setup(self, context: SourceContext) -> None:
        """Open clients, load cursors."""
        ...

    def poll(self) -> Poll:
        """Fetch and parse; raise SourceError for a failed poll."""
        ...

    def close(self) -> None:
        """Release clients."""
        ...
