"""RSS/Atom feeds (and Google News sitemaps) over HTTP with conditional GET."""

from __future__ import annotations

from datetime import UTC, datetime

from finsent.config_sources import RssSourceConfig
from ingest.feeds import FeedError, parse_feed
from ingest.fetch import FetchError, HttpFetcher
from ingest.sources.base import Poll, SourceContext, SourceError


class RssSource:
    """One feed URL; ETag / Last-Modified kept in the state store across restarts."""

    def __init__(self, config: RssSourceConfig) -> None:
        self.config = config
        self.context: SourceContext | None = None
        self.fetcher: HttpFetcher | None = None

    def setup(self, context: SourceContext) -> None:
        """Open the HTTP client."""
        self.context = context
        self.fetcher = HttpFetcher(self.config)

    def poll(self) -> Poll:
        """Fetch (conditionally) and parse; a 304 is an empty, successful poll."""
        assert self.context is not None and self.fetcher is not None
        scope = f"source:{self.config.name}"
        validators = {
            "etag": self.context.state.get(scope, "etag"),
            "last_modified": self.context.state.get(scope, "last_modified"),
        }
        try:
            fetched = self.fetcher.get(self.config.url, validators)
        except FetchError as exc:
            raise SourceError(exc.reason, exc.detail) from exc
        if fetched.status == 304:
            return Poll([])
        try:
            entries = parse_feed(fetched.body, fetched.content_type)
        except FeedError as exc:
            raise SourceError(exc.reason, str(exc)) from exc
        now = datetime.now(UTC)
        items = [self.context.items.make(fetched_at=now, **entry) for entry in entries]
        kept = [item for item in items if item is not None]
        return Poll(kept, fetched.validators, skipped=len(items) - len(kept))

    def close(self) -> None:
        """Close the HTTP client."""
        if self.fetcher is not None:
            self.fetcher.close()
