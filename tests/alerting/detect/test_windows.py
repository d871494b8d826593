from datetime import UTC, datetime, timedelta

from alerting.detect.keys import keyed_items, keys_for
from alerting.detect.windows import WindowCounter
from finsent.schemas import (
    KeyedItem,
    Prediction,
    ScoredItem,
    SentimentPrediction,
    make_item_id,
)

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


def add(counter: WindowCounter, scored: ScoredItem) -> None:
    for entry in keyed_items(scored):
        counter.add(entry)


def test_keys() -> None:
    assert keys_for(item(1, T0, tickers=("AAPL", "MSFT"))) == [
        "ticker:AAPL", "ticker:MSFT", "topic:Markets", "source:wire", "global:all",
    ]  # fmt: skip
    entries = keyed_items(item(1, T0, tickers=("AAPL",)))
    assert [e.key for e in entries] == ["ticker:AAPL", "topic:Markets", "source:wire", "global:all"]
    assert all(e.negative and e.score == 0.9 and e.story_id == "s1" for e in entries)


def test_syndicated_copies_count_once_and_windows_close_after_lateness() -> None:
    counter = WindowCounter(window_s=900, lateness_s=120)
    for n in range(5):  # one story syndicated five times
        add(counter, item(n, T0 + timedelta(minutes=n), story="same"))
    add(counter, item(10, T0 + timedelta(minutes=6)))
    add(counter, item(11, T0 + timedelta(minutes=7), negative=False))
    add(counter, item(12, T0 + timedelta(minutes=16)))  # next window; watermark 14:14
    assert counter.close_due() == [], "14:15 end not yet passed by the watermark"
    add(counter, item(13, T0 + timedelta(minutes=14, seconds=30)))  # late, but within lateness
    add(counter, item(14, T0 + timedelta(minutes=18)))  # watermark 14:16 > 14:15
    closed = {w.key: w for w in counter.close_due()}
    aapl = closed["ticker:AAPL"]
    assert (aapl.start, aapl.end) == (T0, T0 + timedelta(minutes=15))
    assert (aapl.negative, aapl.total) == (3, 4), "the same story five times counts once"
    assert [s.score for s in aapl.samples] == [0.9, 0.9, 0.9]
    assert set(closed) == {"ticker:AAPL", "topic:Markets", "source:wire", "global:all"}
    add(counter, item(15, T0 + timedelta(minutes=1)))  # its window is closed: too late
    assert counter.dropped_late == 4, "one late item, dropped for each of its four keys"


def test_snapshot_round_trip_keeps_open_windows() -> None:
    counter = WindowCounter(window_s=900, lateness_s=60, samples=2)
    for n in range(12):
        entry = KeyedItem(key="ticker:X", item_id=f"i{n}", story_id=f"s{n}", published_at=T0 + timedelta(seconds=n),
                          negative=n % 2 == 0, score=n / 20, title=f"t{n}")  # fmt: skip
        counter.add(entry)
    copy = WindowCounter(window_s=900, lateness_s=60, samples=2)
    copy.restore(counter.snapshot())
    assert [s.id for s in copy.samples("ticker:X", T0)] == ["i10", "i8"]
    copy.advance(T0 + timedelta(hours=1))
    counter.advance(T0 + timedelta(hours=1))
    assert copy.close_due() == counter.close_due()
