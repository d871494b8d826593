"""StockTwits streams (streams/symbol/<SYM>.json ...), incremental by the `since` cursor."""

from __future__ import annotations

from typing import Any

from finsent.config_sources import StocktwitsSourceConfig
from ingest.errors import SourceError
from ingest.sources.base import Poll
from ingest.sources.http import HttpSource


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


class StocktwitsSource(HttpSource):
    """Polls a stream with `since=<newest id seen>`."""

    config: StocktwitsSourceConfig

    def poll(self) -> Poll:
        """New messages since the cursor."""
        assert self.context is not None
        since = self.context.state.get(self.scope, "since")
        url = self.config.url
        if since:
            url += ("&" if "?" in url else "?") + f"since={since}"
        payload = self.json_body(self.fetch(url))
        try:
            entries, newest = stream_entries(payload)
        except ValueError as exc:
            raise SourceError("invalid_json", str(exc)) from exc
        return self.items(entries, {"since": str(newest) if newest is not None else since})
