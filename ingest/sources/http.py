"""What every HTTP source shares: the client lifecycle, error mapping, items from entries."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from finsent.config_sources import HttpSourceBase
from finsent.schemas import RawItem
from ingest.errors import SourceError
from ingest.fetch import Fetched, HttpFetcher
from ingest.sources.base import Poll, SourceContext


class HttpSource:
    """Base of the rss, reddit, stocktwits and json sources."""

    config: HttpSourceBase

    def __init__(self, config: HttpSourceBase) -> None:
        self.config = config
        self.context: SourceContext | None = None
        self.fetcher: HttpFetcher | None = None

    @property
    def scope(self) -> str:
        """Key prefix of this source's cursors and validators in the state store."""
        return f"source:{self.config.name}"

    def setup(self, context: SourceContext) -> None:
        """Open the HTTP client."""
        self.context = context
        self.fetcher = HttpFetcher(self.config)

    def fetch(self, url: str, **options: Any) -> Fetched:
        """GET; a failed fetch raises ``SourceError``."""
        assert self.fetcher is not None
        return self.fetcher.get(url, **options)

    @staticmethod
    def json_body(fetched: Fetched) -> Any:
        """The body as JSON, or an ``invalid_json`` SourceError."""
        try:
            return json.loads(fetched.body)
        except ValueError as exc:
            raise SourceError("invalid_json", str(exc)) from exc
        except RecursionError as exc:  # hostile nesting
            raise SourceError("invalid_json", "nested too deeply to parse") from exc

    def items(
        self, entries: list[dict[str, Any]], state: dict[str, str | None] | None = None
    ) -> Poll:
        """Normalise parsed entries into the poll result.

        One entry that cannot become an item (a title that is an object, a date that is a
        list) is a problem of the poll, reported with its position; the others still count.
        """
        assert self.context is not None
        now = datetime.now(UTC)
        items: list[RawItem] = []
        problems: list[tuple[str, str]] = []
        for position, entry in enumerate(entries):
            try:
                item = self.context.items.make(fetched_at=now, **entry)
            except (TypeError, ValueError, AttributeError) as exc:
                problems.append(("invalid_entry", f"entry {position}: {type(exc).__name__}"))
                continue
            if item is not None:
                items.append(item)
        return Poll(items, state or {}, problems=problems)

    def close(self) -> None:
        """Close the HTTP client."""
        if self.fetcher is not None:
            self.fetcher.close()
