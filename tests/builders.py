"""Message builders shared by the tests of several stages."""

from __future__ import annotations

from datetime import datetime

from finsent.schemas import Prediction, ScoredItem, SentimentPrediction


def scored_item(
    n: int, at: datetime, ticker: str = "ACME", negative: bool = True, topic: str = "Earnings"
) -> ScoredItem:
    """A scored news item ``item-<n>`` about one ticker, published and scored at ``at``."""
    label = "negative" if negative else "neutral"
    return ScoredItem(
        id=f"item-{n}", source="wire", kind="news", title=f"{ticker} headline {n}",
        published_at=at, fetched_at=at, story_id=f"s{n}", tickers=[ticker],
        sentiment=SentimentPrediction(label=label, scores={"negative": 0.9 if negative else 0.1,
                                                           "neutral": 0.1, "positive": 0.0}),
        topic=Prediction(label=topic, scores={topic: 1.0}), model="m@1", classified_at=at,
    )  # fmt: skip
