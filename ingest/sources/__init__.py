"""Source classes by the `type:` of their config: one table, like the config union."""

from __future__ import annotations

from typing import Any

from finsent.config_sources import SourceBase
from ingest.sources.base import Source
from ingest.sources.json_api import JsonSource
from ingest.sources.reddit import RedditSource
from ingest.sources.replay import ReplaySource
from ingest.sources.rss import RssSource
from ingest.sources.stocktwits import StocktwitsSource

SOURCES: dict[str, Any] = {
    "rss": RssSource,
    "reddit": RedditSource,
    "stocktwits": StocktwitsSource,
    "json": JsonSource,
    "replay": ReplaySource,
}


def build_source(config: SourceBase) -> Source:
    """The source object for one config entry."""
    return SOURCES[config.type](config)  # type: ignore[attr-defined,no-any-return]
