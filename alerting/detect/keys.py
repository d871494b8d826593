"""Alert keys: the keys a scored item counts for, and its KeyedItem per key.

An item counts for each of its tickers, its topic, its source and ``global:all``. The router
publishes one KeyedItem per key (keyed by it, so every entry of a key lands on one keyed
partition); the backtest makes the same entries in-process.
"""

from __future__ import annotations

from finsent.schemas import KeyedItem, ScoredItem


def keys_for(item: ScoredItem) -> list[str]:
    """The keys an item counts for: each ticker, its topic, its source, and global."""
    keys = [f"ticker:{t}" for t in item.tickers]
    keys += [f"topic:{item.topic.label}", f"source:{item.source}", "global:all"]
    return keys


def keyed_items(item: ScoredItem, origin: int | None = None) -> list[KeyedItem]:
    """One KeyedItem per key of a scored item (what the alert router produces)."""
    score = float(item.sentiment.scores.get("negative", 0.0))
    return [
        KeyedItem(
            key=key,
            item_id=item.id,
            story_id=item.story_id or item.id,
            published_at=item.published_at,
            negative=item.sentiment.label == "negative",
            score=min(max(score, 0.0), 1.0),
            title=item.title,
            url=item.url,
            origin=origin,
        )
        for key in keys_for(item)
    ]
