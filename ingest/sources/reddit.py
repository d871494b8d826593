"""Reddit listings (/r/<sub>/new.json, /r/<sub>/comments.json), incremental by fullname."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import httpx

from finsent.config_sources import RedditSourceConfig
from ingest.fetch import FetchError, HttpFetcher
from ingest.sources.base import Poll, SourceContext, SourceError

TOKEN_URL = "https://www.reddit.com/api/v1/access_token"  # noqa: S105 - a URL


def listing_entries(payload: Any) -> list[dict[str, Any]]:
    """Field dicts of a Listing's children (t1 comments, t3 posts), newest first."""
    if not isinstance(payload, dict) or payload.get("kind") != "Listing":
        raise ValueError("not a Reddit Listing")
    entries = []
    for child in payload.get("data", {}).get("children", []):
        data = child.get("data", {})
        is_comment = child.get("kind") == "t1"
        permalink = data.get("permalink")
        entries.append(
            {
                "guid": data.get("name"),
                "url": f"https://www.reddit.com{permalink}" if permalink else data.get("url"),
                "title": data.get("link_title") if is_comment else data.get("title"),
                "text": data.get("body") if is_comment else data.get("selftext"),
                "published": data.get("created_utc"),
                "author": data.get("author"),
                "extra": {
                    "subreddit": data.get("subreddit"),
                    "score": data.get("score"),
                    "reddit_kind": child.get("kind"),
                },
            }
        )
    return entries


class RedditSource:
    """Polls a listing with `before=<newest seen fullname>`; an empty poll is normal."""

    def __init__(self, config: RedditSourceConfig) -> None:
        self.config = config
        self.context: SourceContext | None = None
        self.fetcher: HttpFetcher | None = None
        self._token: str | None = None

    def setup(self, context: SourceContext) -> None:
        """Open the HTTP client."""
        self.context = context
        self.fetcher = HttpFetcher(self.config)

    def _auth_headers(self) -> dict[str, str]:
        if self.config.client_id is None or self.config.client_secret is None:
            return {}
        if self._token is None:
            response = httpx.post(
                TOKEN_URL,
                data={"grant_type": "client_credentials"},
                auth=(self.config.client_id, self.config.client_secret.get_secret_value()),
                headers={"User-Agent": self.config.user_agent},
                timeout=self.config.timeout_s,
            )
            if response.status_code != 200:
                raise SourceError("auth", f"token request answered {response.status_code}")
            self._token = str(response.json().get("access_token"))
        return {"Authorization": f"bearer {self._token}"}

    def poll(self) -> Poll:
        """New children since the cursor."""
        assert self.context is not None and self.fetcher is not None
        scope = f"source:{self.config.name}"
        cursor = self.context.state.get(scope, "before")
        query = f"limit={self.config.limit}&raw_json=1" + (f"&before={cursor}" if cursor else "")
        url = self.config.url + ("&" if "?" in self.config.url else "?") + query
        try:
            fetched = self.fetcher.get(url, headers=self._auth_headers())
        except FetchError as exc:
            if exc.reason == "http_401":
                self._token = None
            raise SourceError(exc.reason, exc.detail) from exc
        try:
            entries = listing_entries(json.loads(fetched.body))
        except (ValueError, AttributeError) as exc:
            raise SourceError("invalid_json", str(exc)) from exc
        now = datetime.now(UTC)
        items = [self.context.items.make(fetched_at=now, **e) for e in entries]
        kept = [i for i in items if i is not None]
        newest = entries[0]["guid"] if entries else cursor
        return Poll(kept, {"before": newest}, skipped=len(items) - len(kept))

    def close(self) -> None:
        """Close the HTTP client."""
        if self.fetcher is not None:
            self.fetcher.close()
