"""RSS/Atom feeds (and Google News sitemaps) over HTTP with conditional GET."""

from __future__ import annotations

from finsent.config_sources import RssSourceConfig
from ingest.feeds import parse_feed
from ingest.sources.base import Poll
from ingest.sources.http import HttpSource


class RssSource(HttpSource):
    """One feed URL; ETag / Last-Modified kept in the state store across restarts."""

    config: RssSourceConfig

    def poll(self) -> Poll:
        """Fetch (conditionally) and parse; a 304 is an empty, successful poll."""
        assert self.context is not None
        state = self.context.state
        validators = {
            "etag": state.get(self.scope, "etag"),
            "last_modified": state.get(self.scope, "last_modified"),
        }
        fetched = self.fetch(self.config.url, validators=validators)
        if fetched.status == 304:
            return Poll([])
        entries = parse_feed(fetched.body, fetched.content_type)
        return self.items(entries, fetched.validators)
