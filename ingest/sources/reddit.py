"""Reddit listings (/r/<sub>/new.json, /r/<sub>/comments.json), incremental by fullname."""

from __future__ import annotations

from typing import Any

import httpx

from finsent.config_sources import RedditSourceConfig
from ingest.errors import SourceError
from ingest.fetch import check_address
from ingest.sources.base import Poll
from ingest.sources.http import HttpSource


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


class RedditSource(HttpSource):
    """Polls a listing with `before=<newest seen fullname>`; an empty poll is normal."""

    config: RedditSourceConfig

    def __init__(self, config: RedditSourceConfig) -> None:
        super().__init__(config)
        self._token: str | None = None

    def _auth_headers(self) -> dict[str, str]:
        if self.config.client_id is None or self.config.client_secret is None:
            return {}
        if self._token is None:
            try:
                check_address(self.config.token_url, self.config.allow_private_network)
                response = httpx.post(
                    self.config.token_url,
                    data={"grant_type": "client_credentials"},
                    auth=(self.config.client_id, self.config.client_secret.get_secret_value()),
                    headers={"User-Agent": self.config.user_agent},
                    timeout=self.config.timeout_s,
                )
            except (SourceError, httpx.HTTPError) as exc:
                raise SourceError("auth", f"token request failed: {type(exc).__name__}") from exc
            if response.status_code != 200:
                raise SourceError("auth", f"token request answered {response.status_code}")
            self._token = str(response.json().get("access_token"))
        return {"Authorization": f"bearer {self._token}"}

    def poll(self) -> Poll:
        """New children since the cursor."""
        assert self.context is not None
        cursor = self.context.state.get(self.scope, "before")
        query = f"limit={self.config.limit}&raw_json=1" + (f"&before={cursor}" if cursor else "")
        url = self.config.url + ("&" if "?" in self.config.url else "?") + query
        try:
            fetched = self.fetch(url, headers=self._auth_headers())
        except SourceError as exc:
            if exc.reason == "http_401":
                self._token = None  # expired: ask for a new token next time
            raise
        try:
            entries = listing_entries(self.json_body(fetched))
        except (ValueError, AttributeError) as exc:
            raise SourceError("invalid_json", str(exc)) from exc
        newest = entries[0]["guid"] if entries else cursor
        return self.items(entries, {"before": newest})
