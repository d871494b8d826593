"""Detector speed and memory: scored items/s through ``finsent backtest``'s code, state per key.

Speed: ``--items`` (1,000,000) generated scored items over ``--days`` (4) of event time,
through ``alerting.tools.backtest.backtest`` (the code ``finsent backtest`` runs: keying
into one KeyedItem per key, the live ``SurgeDetector``, shipped rules, 15-min periods,
300 s lateness). Keys as a live stream has them: 3,000 tickers with Zipf popularity (a
few hot, most cold; 0 to 3 per item), 12 topics and 25 sources with skewed weights,
``global:all``; about 15 % of items negative (more on a few tickers at a time: 40 injected
surges), 10 % syndicated copies of an earlier story, arrivals up to 60 s out of order.
Items are generated before the clock starts. The baseline, timed in the same run on the
same items, is the trivial per-key loop: each item's keys (``keys_for``) and its minute,
a dict increment of negative and total per (key, minute): what counting per key costs
in Python before any detection. The figure is the detector's items/s over the baseline's
(``ratio``); absolute items/s depend on the machine and its neighbours. Each side runs
``--repeat`` (2) times, interleaved, and keeps its best.

Memory (``--memory``): ``--keys`` (100,000) ticker keys, each with about two stories a day
(log-normal rates), plus their topic, source and global keys, fed day by day through the
same per-item path; after each of ``--memory-days`` (2, 4) days: the process's RSS
growth over the start (psutil, after ``gc.collect``), the detector's JSON snapshot size,
both per key seen, and the most bins any key holds.

    .venv/bin/python bench/bench_detector.py [--items N] [--days D] [--repeat R] [--json]
        [--rhythm-slot-s S] [--rhythm-timezone ZONE]
    .venv/bin/python bench/bench_detector.py --memory [--keys K] [--memory-days 2,4] [--json]
"""

from __future__ import annotations

import argparse
import gc
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import psutil  # type: ignore[import-untyped]  # no stubs in the environment

from alerting.detect.detector import SurgeDetector
from alerting.detect.keys import keys_for
from alerting.detect.rules import load_rules
from alerting.tools.backtest import backtest, feed
from finsent.schemas import Prediction, ScoredItem, SentimentPrediction

T0 = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday
WINDOW_S, LATENESS_S = 900, 300
TICKERS, TOPICS, SOURCES = 3000, 12, 25
NEGATIVE_SHARE = 0.15


def _labels() -> tuple[list[SentimentPrediction], list[Prediction]]:
    sentiments = [
        SentimentPrediction(label=label, scores={"negative": neg, "neutral": 0.1, "positive": 0.1})
        for label, neg in (
            ("negative", 0.9),
            ("negative", 0.7),
            ("neutral", 0.1),
            ("positive", 0.05),
        )
    ]
    topics = [Prediction(label=f"Topic{t}", scores={f"Topic{t}": 1.0}) for t in range(TOPICS)]
    return sentiments, topics


def _item(
    n: int, story: int, at: datetime, tickers: list[str], negative: int, topic: Prediction,
    source: str, sentiments: list[SentimentPrediction],
) -> ScoredItem:  # fmt: skip
    sentiment = sentiments[negative] if negative < 2 else sentiments[2 + n % 2]
    return ScoredItem.model_construct(
        id=f"d{n}", source=source, kind="news", title=f"story {story}", url=None,
        published_at=at, fetched_at=at, story_id=f"s{story}", tickers=tickers, topic=topic,
        sentiment=sentiment, model="bench@1", classified_at=at,
    )  # fmt: skip


def _zipf(rng: np.random.Generator, n: int, size: int, s: float) -> np.ndarray:
    weights = 1.0 / np.arange(1, n + 1) ** s
    return rng.choice(n, size=size, p=weights / weights.sum())


def generate(n: int, days: int = 4, seed: int = 1) -> list[ScoredItem]:
    """``n`` scored items over ``days``, in arrival order (up to 60 s out of event order)."""
    rng = np.random.default_rng(seed)
    sentiments, topics = _labels()
    span_s = days * 86400
    seconds = np.sort(rng.uniform(0, span_s, size=n))
    arrival = np.argsort(seconds + rng.uniform(0, 60, size=n), kind="stable")
    ticker_counts = rng.choice(4, size=n, p=[0.3, 0.5, 0.15, 0.05])
    ticker_ids = _zipf(rng, TICKERS, int(ticker_counts.sum()), 1.1)
    topic_ids = _zipf(rng, TOPICS, n, 0.8)
    source_ids = _zipf(rng, SOURCES, n, 1.0)
    negative = rng.random(n) < NEGATIVE_SHARE
    strong = rng.random(n) < 0.5
    copies = rng.random(n) < 0.10
    hot = _zipf(rng, 50, 40, 0.5)  # surges on some popular tickers, after the warm-up day
    surges = [(int(t), float(rng.uniform(86400, span_s - 3600))) for t in hot]
    items: list[ScoredItem] = []
    offset = 0
    story_of: list[int] = []
    for i in range(n):
        k = int(ticker_counts[i])
        tickers = [f"T{t:04d}" for t in ticker_ids[offset : offset + k]]
        offset += k
        at_s = float(seconds[i])
        neg = bool(negative[i])
        for ticker, start in surges:
            if start <= at_s < start + 1800 and k and tickers[0] == f"T{ticker:04d}":
                neg = neg or rng.random() < 0.8
        story = story_of[int(rng.integers(max(0, i - 200), i))] if copies[i] and i else i
        story_of.append(story)
        at = T0 + timedelta(seconds=at_s)
        items.append(_item(i, story, at, tickers, 0 if neg and strong[i] else (1 if neg else 2),
                           topics[int(topic_ids[i])], f"src{int(source_ids[i])}",
                           sentiments))  # fmt: skip
    return [items[j] for j in arrival]


def count_per_key(items: list[ScoredItem]) -> int:
    """The baseline: negative and total per (key, minute), nothing else."""
    negative: dict[tuple[str, int], int] = {}
    total: dict[tuple[str, int], int] = {}
    for item in items:
        minute = int(item.published_at.timestamp()) // 60
        is_negative = item.sentiment.label == "negative"
        for key in keys_for(item):
            slot = (key, minute)
            total[slot] = total.get(slot, 0) + 1
            if is_negative:
                negative[slot] = negative.get(slot, 0) + 1
    return len(total)


def run_detector(items: list[ScoredItem], slot_s: int | None = None, zone: str = "UTC") -> int:
    """``finsent backtest``'s code on the items; the number of alert events."""
    alerts = backtest(
        items, load_rules(), WINDOW_S, LATENESS_S, rhythm_slot_s=slot_s, rhythm_timezone=zone
    )
    return sum(1 for _ in alerts)


def speed(args: argparse.Namespace) -> dict[str, Any]:
    items = generate(args.items, args.days, args.seed)
    best: dict[str, float] = {}
    events = 0
    for _ in range(args.repeat):
        for name in ("baseline", "detector"):
            gc.collect()
            started = time.perf_counter()
            result = (
                count_per_key(items)
                if name == "baseline"
                else run_detector(items, args.rhythm_slot_s, args.rhythm_timezone)
            )
            elapsed = time.perf_counter() - started
            best[name] = min(best.get(name, elapsed), elapsed)
            if name == "detector":
                events = result
    rows = {name: {"seconds": round(s, 3), "items_per_s": round(len(items) / s)}
            for name, s in best.items()}  # fmt: skip
    keyed = sum(len(keys_for(i)) for i in items)
    return {
        "items": len(items), "entries": keyed, "days": args.days, "alert_events": events,
        "rhythm_slot_s": args.rhythm_slot_s, "rhythm_timezone": args.rhythm_timezone,
        "rows": rows, "ratio": round(best["baseline"] / best["detector"], 4),
    }  # fmt: skip


def day_of_items(keys: int, day: int, rates: np.ndarray, seed: int) -> Iterator[ScoredItem]:
    """One day of items for ``keys`` tickers, in event-time order, generated lazily by hour."""
    rng = np.random.default_rng(seed * 1000 + day)
    sentiments, topics = _labels()
    counts = rng.poisson(rates)
    owners = np.repeat(np.arange(keys), counts)
    seconds = rng.uniform(0, 86400, size=owners.size)
    order = np.argsort(seconds)
    owners, seconds = owners[order], seconds[order]
    negative = rng.random(owners.size) < NEGATIVE_SHARE
    start = T0 + timedelta(days=day)
    for i in range(owners.size):
        n = day * 10_000_000 + i
        owner = int(owners[i])
        yield _item(n, n, start + timedelta(seconds=float(seconds[i])), [f"K{owner:06d}"],
                    0 if negative[i] else 2, topics[owner % TOPICS], f"src{owner % SOURCES}",
                    sentiments)  # fmt: skip


def memory(args: argparse.Namespace) -> dict[str, Any]:
    process = psutil.Process()
    rng = np.random.default_rng(args.seed)
    rates = rng.lognormal(np.log(2.0) - 0.5, 1.0, size=args.keys)  # mean about 2 a day
    gc.collect()
    rss0 = process.memory_info().rss
    detector = SurgeDetector(load_rules(), WINDOW_S, LATENESS_S, rhythm_slot_s=args.rhythm_slot_s,
                             rhythm_timezone=args.rhythm_timezone)  # fmt: skip
    marks = sorted(int(d) for d in args.memory_days.split(","))
    rows = []
    items = 0
    for day in range(marks[-1]):
        batch: list[ScoredItem] = []
        for item in day_of_items(args.keys, day, rates, args.seed):
            batch.append(item)
            if len(batch) == 10_000:
                feed(detector, batch)
                items, batch = items + len(batch), []
        feed(detector, batch)
        items += len(batch)
        detector.advance(T0 + timedelta(days=day + 1))
        if day + 1 in marks:
            gc.collect()
            rss = process.memory_info().rss - rss0
            seen = len(detector.profiles)
            size = len(json.dumps(detector.snapshot()))
            rows.append({
                "days": day + 1, "items": items, "keys": seen,
                "rss_mib": round(rss / 2**20, 1), "rss_per_key_b": round(rss / seen),
                "snapshot_mib": round(size / 2**20, 1), "snapshot_per_key_b": round(size / seen),
                "max_bins_per_key": max((len(b.total) for b in detector.bins.keys.values()),
                                        default=0),
            })  # fmt: skip
    return {"keys": args.keys, "rows": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--memory", action="store_true")
    parser.add_argument("--keys", type=int, default=100_000)
    parser.add_argument("--memory-days", default="2,4")
    parser.add_argument(
        "--rhythm-slot-s", type=int, default=None, help="alerting.rhythm_slot_s (null: default)"
    )
    parser.add_argument("--rhythm-timezone", default="UTC", help="alerting.rhythm_timezone")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.memory:
        out = memory(args)
        if args.json:
            print(json.dumps(out))
            return
        print(f"{out['keys']} ticker keys (+ topic, source, global):")
        print(
            "days  items      keys     RSS MiB  RSS B/key  snapshot MiB  snapshot B/key  bins/key"
        )
        for r in out["rows"]:
            print(f"{r['days']:>4}  {r['items']:>9,}  {r['keys']:>7,}  {r['rss_mib']:>7}  "
                  f"{r['rss_per_key_b']:>9,}  {r['snapshot_mib']:>12}  "
                  f"{r['snapshot_per_key_b']:>14,}  {r['max_bins_per_key']:>8}")  # fmt: skip
        return
    out = speed(args)
    if args.json:
        print(json.dumps(out))
        return
    print(f"{out['items']:,} scored items ({out['entries']:,} keyed entries) over "
          f"{out['days']} days; {out['alert_events']} alert events")  # fmt: skip
    for name, label in (("baseline", "per-key counting loop"), ("detector", "finsent backtest")):
        row = out["rows"][name]
        print(f"  {label:<24} {row['items_per_s']:>10,} items/s  {row['seconds']:>8} s")
    print(f"  detector / baseline: {out['ratio']:.3f} of the counting loop's speed")


if __name__ == "__main__":
    main()
