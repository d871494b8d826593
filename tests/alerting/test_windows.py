from datetime import UTC, datetime, timedelta

from alerting.windows import WindowCounter, keys_for
from finsent.schemas import Prediction, ScoredItem, SentimentPrediction, make_item_id

T0 = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)


def item(
    n: int,
    at: datetime,
    negative: bool = True,
    story: str | None = None,
    tickers: tuple[str, ...] = ("AAPL",),
) -> ScoredItem:
    score = 0.9 if negative else 0.05
    return ScoredItem(
        id=make_item_id("wire", str(n)), source="wire", kind="news", title=f"story {n}", url=f"https://x/{n}",
        published_at=at, fetched_at=at, story_id=story or f"s{n}", tickers=list(tickers),
        sentiment=SentimentPrediction(label="negative" if negative else "neutral",
                                      scores={"negative": score, "neutral": 1 - score, "positive": 0.0}),
        topic=Prediction(label="Markets", scores={"Markets": 1.0}), model="m@1", classified_at=at,
    )  # fmt: skip


def test_keys() -> None:
    assert keys_for(item(1, T0, tickers=("AAPL", "MSFT"))) == [
        "ticker:AAPL", "ticker:MSFT", "topic:Markets", "source:wire", "global:all",
    ]  # fmt: skip


def test_syndicated_copies_count_once_and_windows_close_after_lateness() -> None:
    counter = WindowCounter(window_s=900, lateness_s=120)
    for n in range(5):  # one story syndicated five times
        counter.add(item(n, T0 + timedelta(minutes=n), story="same"))
    counter.add(item(10, T0 + timedelta(minutes=6)))
    counter.add(item(11, T0 + timedelta(minutes=7), negative=False))
    counter.add(item(12, T0 + timedelta(minutes=16)))  # next window; watermark 14:14
    assert counter.close_due() == [], "14:15 end not yet passed by the watermark"
    counter.add(item(13, T0 + timedelta(minutes=14, seconds=30)))  # late, but within lateness
    counter.add(item(14, T0 + timedelta(minutes=18)))  # watermark 14:16 > 14:15
    closed = {w.key: w for w in counter.close_due()}
    aapl = closed["ticker:AAPL"]
    assert (aapl.start, aapl.end) == (T0, T0 + timedelta(minutes=15))
    assert (aapl.negative, aapl.total) == (3, 4), "the same story five times counts once"
    assert [s.score for s in aapl.samples] == [0.9, 0.9, 0.9]
    assert set(closed) == {"ticker:AAPL", "topic:Markets", "source:wire", "global:all"}
    counter.add(item(15, T0 + timedelta(minutes=1)))  # its window is closed: too late
    assert counter.dropped_late == 1
