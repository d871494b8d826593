"""Alert keys: the keys a scored item counts for, and its KeyedItem per key.

An item counts for each of its tickers, its topic, its source and ``global:all``. The router
publishes one KeyedItem per key (keyed by it, so every entry of a key lands on one keyed
partition); the backtest makes the same entries in-process.
"""

from __future__ import annotations

import re
from typing import Any, TypeVar

from pydantic import BaseModel

from finsent.schemas import SCHEMA_VERSION, KeyedItem, ScoredItem

_DEFAULTED = frozenset({"schema_version"})  # given here, yet not "set" by the caller
_KEY = re.compile(r"[a-z_]+:.+")  # KeyedItem.key's pattern (``.`` stops at a newline in both)


def keys_for(item: ScoredItem) -> list[str]:
    """The keys an item counts for: each ticker, its topic, its source, and global."""
    keys = [f"ticker:{t}" for t in item.tickers]
    keys += [f"topic:{item.topic.label}", f"source:{item.source}", "global:all"]
    return keys


M = TypeVar("M", bound=BaseModel)


def checked(cls: type[M], values: dict[str, Any]) -> M:
    """A model built as ``model_construct`` does, without its overhead.

    ``values`` are ones the fields accept as they are, every field in order (defaulted
    ones too): what the validating constructor would store. The callers' tests check the
    result against validation.
    """
    model = object.__new__(cls)
    object.__setattr__(model, "__dict__", values)
    object.__setattr__(model, "__pydantic_fields_set__", set(values) - _DEFAULTED)
    object.__setattr__(model, "__pydantic_extra__", None)
    object.__setattr__(model, "__pydantic_private__", None)
    return model


def keyed_items(item: ScoredItem, origin: int | None = None) -> list[KeyedItem]:
    """One KeyedItem per key of a scored item (what the alert router produces).

    The fields come from a validated ScoredItem, so only what KeyedItem adds (the key's
    pattern, the score's range) is checked here and the entries are built without a second
    validation (which was a third of the backtest's time). Anything else goes through the
    validating constructor, which raises as before.
    """
    score = min(max(float(item.sentiment.scores.get("negative", 0.0)), 0.0), 1.0)
    story_id = item.story_id or item.id
    negative = item.sentiment.label == "negative"
    trusted = 0.0 <= score <= 1.0 and (origin is None or type(origin) is int)
    entries = []
    for key in keys_for(item):
        if trusted and _KEY.fullmatch(key):
            entries.append(checked(KeyedItem, {
                "schema_version": SCHEMA_VERSION, "key": key, "item_id": item.id,
                "story_id": story_id, "published_at": item.published_at, "negative": negative,
                "score": score, "title": item.title, "url": item.url, "origin": origin,
            }))  # fmt: skip
        else:
            entries.append(KeyedItem(
                key=key, item_id=item.id, story_id=story_id, published_at=item.published_at,
                negative=negative, score=score, title=item.title, url=item.url, origin=origin,
            ))  # fmt: skip
    return entries
