"""What every HTTP source shares: the client lifecycle, error mapping, items from entries."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from finsent.config_sources import HttpSourceBase
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

    def items(
        self, entries: list[dict[str, Any]], state: dict[str, str | None] | None = None
    ) -> Poll:
        """Normalise parsed entries into the poll result."""
        assert self.context is not None
        now = datetime.now(UTC)
        made = [self.context.items.make(fetched_at=now, **entry) for entry in entries]
        return Poll([item for item in made if item is not None], state or {})

    def close(self) -> None:
        """Close the HTTP client."""
        if self.fetcher is not None:
            self.fetcher.close()
