"""Label spaces of the two heads and the mappings from the public datasets' integer ids."""

from __future__ import annotations

from importlib import resources

from finsent.schemas import SENTIMENT_LABELS

SENTIMENT: tuple[str, ...] = SENTIMENT_LABELS
"""negative, neutral, positive: the sentiment head's output order."""

TOPICS: tuple[str, ...] = tuple(
    line.strip()
    for line in resources.files("classifier.resources")
    .joinpath("topic_classes.txt")
    .read_text(encoding="utf-8")
    .splitlines()
    if line.strip()
)
"""The 20 topics of twitter-financial-news-topic, in dataset id order."""

TWEET_SENTIMENT_IDS = {0: "negative", 1: "positive", 2: "neutral"}
"""twitter-financial-news-sentiment: 0 Bearish, 1 Bullish, 2 Neutral."""


def parse_label_map(spec: str) -> dict[int, str]:
    """Parse ``0=negative,1=positive,2=neutral`` into {0: "negative", ...}."""
    mapping: dict[int, str] = {}
    for part in spec.split(","):
        key, sep, value = part.partition("=")
        if not sep or not key.strip().isdigit() or not value.strip():
            raise ValueError(f"bad label map entry {part!r}; expected ID=NAME")
        mapping[int(key)] = value.strip()
    return mapping


def require_recipe_spaces(sentiment: list[str], topic: list[str], source: str) -> None:
    """Refuse a model (``source``: the option naming it) whose heads use other label spaces."""
    if (sentiment, topic) != (list(SENTIMENT), list(TOPICS)):
        raise ValueError(f"{source}: its label spaces differ from this recipe's")
