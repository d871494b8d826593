"""Build deploy/replay/boeing_burst.jsonl: a replay with a real burst of negative news.

Every text is a real finance-news tweet from the MIT-licensed twitter-financial-news-sentiment
training set (../shared/data/twitter_financial_news_sentiment/sent_train.csv): 30 hours of
neutral news (some mentioning Boeing, so its key has a baseline: a key alerts only after a
day of history), then, within 12 minutes, the bearish tweets about Boeing. The recording
ends with the burst: `make run` replays it shifted so that its last item is published now,
so the burst's period is still open and its alert stays firing until the periods close by
the clock (with more news after the burst, the replay itself would close them, and the
alert would resolve at once).

    python deploy/replay/build_negative_burst.py
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

from finsent.datadir import data_dir

HERE = Path(__file__).resolve().parent
SOURCE = data_dir() / "twitter_financial_news_sentiment" / "sent_train.csv"
OUTPUT = HERE / "boeing_burst.jsonl"
START = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
HISTORY_H = 30
BOEING = re.compile(r"\bBoeing\b")


def clean(text: str) -> str:
    """The tweet without its t.co links."""
    return re.sub(r"\s*https?://\S+", "", text).strip()


def item(n: int, at: datetime, text: str) -> str:
    """One RawItem JSON line."""
    digest = hashlib.sha256(f"burst-{n}-{text}".encode()).hexdigest()[:32]
    return json.dumps({
        "schema_version": 1, "id": digest, "source": "replay-burst", "kind": "news",
        "title": text, "text": "", "url": f"https://replay.invalid/{digest}",
        "published_at": at.isoformat().replace("+00:00", "Z"),
        "fetched_at": at.isoformat().replace("+00:00", "Z"), "symbols": [],
    })  # fmt: skip


def main() -> None:
    """Write the recording."""
    rows = list(csv.DictReader(SOURCE.open(encoding="utf-8")))
    bearish = [clean(r["text"]) for r in rows if r["label"] == "0" and BOEING.search(r["text"])]
    boeing_neutral = [
        clean(r["text"]) for r in rows if r["label"] == "2" and BOEING.search(r["text"])
    ]
    neutral = [clean(r["text"]) for r in rows if r["label"] == "2" and not BOEING.search(r["text"])
               and "$" not in r["text"] and len(clean(r["text"])) > 30]  # fmt: skip
    lines: list[tuple[datetime, str]] = []
    background = iter(neutral)
    burst = START + timedelta(hours=HISTORY_H, minutes=1)
    burst_end = burst + timedelta(seconds=40 * (len(bearish) - 1))
    for minute in range(0, HISTORY_H * 60 + 45, 5):  # neutral news every 5 min, to the burst's end
        at = START + timedelta(minutes=minute)
        if at <= burst_end:
            lines.append((at, next(background)))
    for k in range(HISTORY_H * 2):  # Boeing's normal: neutral, every 30 min
        text = boeing_neutral[k % len(boeing_neutral)]
        lines.append((START + timedelta(minutes=30 * k + 7), text))
    for k, text in enumerate(bearish):  # the burst: every bearish Boeing story in 12 minutes
        lines.append((burst + timedelta(seconds=40 * k), text))
    lines.sort(key=lambda pair: pair[0])
    OUTPUT.write_text("".join(item(n, at, text) + "\n" for n, (at, text) in enumerate(lines)))
    print(f"wrote {OUTPUT}: {len(lines)} items, {len(bearish)} in the burst")


if __name__ == "__main__":
    main()
