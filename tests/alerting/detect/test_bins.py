"""Per-key bins: keys of an item, syndicated copies once, lateness, bounds, snapshots."""

from datetime import UTC, datetime, timedelta

from alerting.detect.bins import BinCounter
from alerting.detect.keys import keyed_items, keys_for
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


def add(counter: BinCounter, scored: ScoredItem) -> None:
    for entry in keyed_items(scored):
        counter.add(entry)


def test_keys() -> None:
    assert keys_for(item(1, T0, tickers=("AAPL", "MSFT"))) == [
        "ticker:AAPL", "ticker:MSFT", "topic:Markets", "source:wire", "global:all",
    ]  # fmt: skip
    entries = keyed_items(item(1, T0, tickers=("AAPL",)))
    assert [e.key for e in entries] == ["ticker:AAPL", "topic:Markets", "source:wire", "global:all"]
    assert all(e.negative and e.score == 0.9 and e.story_id == "s1" for e in entries)


def test_syndicated_copies_count_once_in_the_earliest_bin_and_periods_close_after_lateness() -> (
    None
):
    counter = BinCounter(bin_s=60, period_s=900, lateness_s=120, span_bins=240)
    first = counter.bin_of(T0)
    add(counter, item(0, T0 + timedelta(minutes=3), story="same"))
    for n in range(1, 5):  # the same story syndicated again, one copy earlier than the first
        add(counter, item(n, T0 + timedelta(minutes=2 * n - 1), story="same"))
    add(counter, item(10, T0 + timedelta(minutes=6)))
    add(counter, item(11, T0 + timedelta(minutes=7), negative=False))
    assert counter.window("ticker:AAPL", first, first + 14) == (2, 3), "the story counts once"
    assert counter.filled("ticker:AAPL", counter.period_of(first)) == [first + 1, first + 6,
                                                                         first + 7]  # fmt: skip
    add(counter, item(12, T0 + timedelta(minutes=16)))  # watermark 14:14: the period is open
    assert counter.open_period() == counter.period_of(first)
    add(counter, item(13, T0 + timedelta(minutes=14, seconds=30)))  # late, within lateness
    add(counter, item(14, T0 + timedelta(minutes=18)))  # watermark 14:16 > 14:15
    assert counter.open_period() == counter.period_of(first) + 1
    assert counter.close(counter.period_of(first)) == {
        "ticker:AAPL", "topic:Markets", "source:wire", "global:all",
    }  # fmt: skip
    assert counter.window("ticker:AAPL", first, first + 14) == (3, 4)
    assert [s.score for s in counter.samples("ticker:AAPL", first, first + 14)] == [0.9] * 3
    add(counter, item(15, T0 + timedelta(minutes=1)))  # its period is closed: too late
    assert counter.dropped_late == 4, "one late item, dropped for each of its four keys"


def test_pruning_keeps_only_what_the_longest_window_reaches() -> None:
    counter = BinCounter(bin_s=60, period_s=900, lateness_s=0, span_bins=60)
    for n in range(24 * 60):  # a story a minute for a day
        counter.add(KeyedItem(key="ticker:X", item_id=f"i{n}", story_id=f"s{n}", score=0.9,
                              published_at=T0 + timedelta(minutes=n), negative=True))  # fmt: skip
        period = counter.period_of(counter.bin_of(T0 + timedelta(minutes=n))) - 1
        if n % 15 == 0 and counter.close(period):
            counter.prune("ticker:X", period)
    bins = counter.keys["ticker:X"]
    assert len(bins.total) <= 60 + 15 and len(bins.stories) <= 60 + 15
    assert len(bins.samples) <= 4 * counter.sample_count + counter.per_period


def test_snapshot_round_trip_keeps_the_bins_and_the_evidence() -> None:
    counter = BinCounter(bin_s=60, period_s=900, lateness_s=60, span_bins=240, samples=2)
    for n in range(12):
        entry = KeyedItem(key="ticker:X", item_id=f"i{n}", story_id=f"s{n}", published_at=T0 + timedelta(seconds=20 * n),
                          negative=n % 2 == 0, score=n / 20, title=f"t{n}")  # fmt: skip
        counter.add(entry)
    copy = BinCounter(bin_s=60, period_s=900, lateness_s=60, span_bins=240, samples=2)
    copy.restore(counter.snapshot())
    first = counter.bin_of(T0)
    assert [s.id for s in copy.samples("ticker:X", first, first + 14)] == ["i10", "i8"]
    assert copy.window("ticker:X", first, first + 14) == counter.window(
        "ticker:X", first, first + 14
    )
    assert copy.snapshot() == counter.snapshot()


def test_a_copy_of_a_story_in_a_closed_period_does_not_reopen_that_period() -> None:
    """A syndicated copy published after its story's period closed: counted once, not re-closed."""
    counter = BinCounter(bin_s=60, period_s=900, lateness_s=60, span_bins=240)
    first = counter.period_of(counter.bin_of(T0))
    add(counter, item(0, T0 + timedelta(minutes=5), story="wire"))
    add(counter, item(1, T0 + timedelta(minutes=17)))  # watermark 14:16: the first period closed
    assert counter.open_period() == first + 1
    assert "ticker:AAPL" in counter.close(first)
    add(counter, item(2, T0 + timedelta(minutes=18), story="wire"))  # the copy, 13 min later
    assert first not in counter.active, "the closed period is not active again"
    assert counter.active[first + 1] == {"ticker:AAPL", "topic:Markets", "source:wire",
                                         "global:all"}  # fmt: skip
    assert counter.window("ticker:AAPL", counter.bin_of(T0), counter.bin_of(T0) + 29) == (2, 2)
