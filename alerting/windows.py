"""Event-time tumbling windows per key, counting distinct stories.

Items are placed by ``published_at`` into fixed windows of ``window_s``. A window is emitted
once the watermark (the latest event time seen, minus ``lateness_s``) has passed its end, so
items that arrive a little late still count; later ones are dropped and counted. Syndicated
copies of one story (same ``story_id``) count once, so a story re-published by ten outlets
does not look like ten negative stories.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from finsent.schemas import AlertSample, ScoredItem


def keys_for(item: ScoredItem) -> list[str]:
    """The keys an item counts for: each ticker, its topic, its source, and global."""
    keys = [f"ticker:{t}" for t in item.tickers]
    keys += [f"topic:{item.topic.label}", f"source:{item.source}", "global:all"]
    return keys


@dataclass
class WindowStats:
    """One closed window of one key."""

    key: str
    start: datetime
    end: datetime
    negative: int
    total: int
    samples: list[AlertSample]


@dataclass
class _Open:
    stories: dict[str, float] = field(default_factory=dict)  # story -> max negative score
    labels: dict[str, bool] = field(default_factory=dict)  # story -> any copy negative
    samples: dict[str, AlertSample] = field(default_factory=dict)


class WindowCounter:
    """Per-key tumbling windows with allowed lateness."""

    def __init__(self, window_s: int, lateness_s: int, samples: int = 5) -> None:
        self.window = timedelta(seconds=window_s)
        self.lateness = timedelta(seconds=lateness_s)
        self.sample_count = samples
        self.open: dict[tuple[str, datetime], _Open] = {}
        self.watermark = datetime.min.replace(tzinfo=UTC)
        self.dropped_late = 0

    def _start(self, at: datetime) -> datetime:
        epoch = datetime(1970, 1, 1, tzinfo=UTC)
        return epoch + ((at - epoch) // self.window) * self.window

    def add(self, item: ScoredItem) -> None:
        """Count an item in its window for each of its keys (unless too late)."""
        start = self._start(item.published_at)
        if start + self.window <= self.watermark:  # its window has closed
            self.dropped_late += 1
            return
        self.watermark = max(self.watermark, item.published_at - self.lateness)
        story = item.story_id or item.id
        negative = item.sentiment.label == "negative"
        score = item.sentiment.scores.get("negative", 0.0)
        for key in keys_for(item):
            window = self.open.setdefault((key, start), _Open())
            window.stories[story] = max(window.stories.get(story, 0.0), score)
            window.labels[story] = window.labels.get(story, False) or negative
            best = window.samples.get(story)
            if best is None or score > best.score:
                window.samples[story] = AlertSample(
                    id=item.id, title=item.title, url=item.url, score=score
                )

    def close_due(self) -> list[WindowStats]:
        """Windows whose end the watermark has passed, oldest first."""
        due = sorted(
            (k for k in self.open if k[1] + self.window <= self.watermark), key=lambda k: k[1]
        )
        closed = []
        for key, start in due:
            window = self.open.pop((key, start))
            negatives = [s for s, neg in window.labels.items() if neg]
            ranked = sorted(
                (window.samples[s] for s in negatives), key=lambda s: s.score, reverse=True
            )
            closed.append(
                WindowStats(key, start, start + self.window, len(negatives),
                            len(window.stories), ranked[: self.sample_count])
            )  # fmt: skip
        return closed
