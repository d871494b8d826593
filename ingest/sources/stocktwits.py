"""StockTwits streams (streams/symbol/<SYM>.json ...), incremental by the `since` cursor."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from finsent.config_sources import StocktwitsSourceConfig
from ingest.fetch import FetchError, HttpFetcher
from ingest.sources.base import Poll, SourceContext, SourceError


def stream_entries(payload: Any) -> tuple[list[dict[str, Any]], int | None]:
    """Field dicts of a stream's messages and the newest message id (the next `since`)."""
    if not isinstance(payload, dict) or not isinstance(payload.get("messages"), list):
        raise ValueError("not a StockTwits stream (no messages list)")
    entries = []
    for message in payload["messages"]:
        sentiment = (message.get("entities") or {}).get("sentiment") or {}
        user = message.get("user") or {}
        message_id = message.get("id")
        handle = user.get("username", "message")
        entries.append(
            {
                "guid": str(message_id),
                "url": f"https://stocktwits.com/{handle}/message/{message_id}",
                "title": "",
                "text": message.get("body"),
                "published": message.get("created_at"),
                "author": user.get("username"),
                "symbols": [s.get("symbol", "") for s in message.get("symbols") or []],
                "extra": {"user_sentiment": sentiment.get("basic")},
            }
        )
    cursor = (payload.get("cursor") or {}).get("since")
    newest = max((m.get("id", 0) for m in payload["messages"]), default=None)
    return entries, newest if newest is not None else cursor


class StocktwitsSource:
    """Polls a stream with `since=<newest id seen>`."""

    def __init__(self, config: StocktwitsSourceConfig) -> None:
        self.config = config
        self.context: SourceContext | None = None
        self.fetcher: HttpFetcher | None = None

    def setup(self, context: SourceContext) -> None:
        """Open the HTTP client."""
        self.context = context
        self.fetcher = HttpFetcher(self.config)

    def poll(self) -> Poll:
        """New messages since the cursor."""
        assert self.context is not None and self.fetcher is not None
        scope = f"source:{self.config.name}"
        since = self.context.state.get(scope, "since")
        url = self.config.url
        if since:
            url += ("&" if "?" in url else "?") + f"since={since}"
        try:
            fetched = self.fetcher.get(url)
        except FetchError as exc:
            raise SourceError(exc.reason, exc.detail) from exc
        try:
            entries, newest = stream_entries(json.loads(fetched.body))
        except ValueError as exc:
            raise SourceError("invalid_json", str(exc)) from exc
        now = datetime.now(UTC)
        items = [self.context.items.make(fetched_at=now, **e) for e in entries]
        kept = [i for i in items if i is not None]
        state = {"since": str(newest) if newest is not None else since}
        return Poll(kept, state, skipped=len(items) - len(kept))

    def close(self) -> None:
        """Close the HTTP client."""
        if self.fetcher is not None:
            self.fetcher.close()
