"""Event-time tumbling windows per key, counting distinct stories.

Entries are placed by ``published_at`` into fixed windows of ``window_s``. A window closes
once the watermark (the latest event time seen minus ``lateness_s``, or a clock the caller
advances it to) has passed its end, so entries that arrive a little late still count; later
ones are dropped and counted. Syndicated copies of one story (same ``story_id``) count once,
so a story re-published by ten outlets does not look like ten negative stories.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from finsent.schemas import AlertSample, KeyedItem

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass
class WindowStats:
    """Counts of one window of one key (open or closed)."""

    key: str
    start: datetime
    end: datetime
    negative: int
    total: int
    samples: list[AlertSample]


@dataclass
class _Open:
    stories: dict[str, bool] = field(default_factory=dict)  # story -> any copy negative
    samples: dict[str, AlertSample] = field(default_factory=dict)  # negative stories, best copy
    negative: int = 0


class WindowCounter:
    """Per-key tumbling windows with allowed lateness; state can be snapshotted."""

    def __init__(
        self, window_s: int, lateness_s: int, samples: int = 5, follow_events: bool = True
    ) -> None:
        self.window = timedelta(seconds=window_s)
        self.lateness = timedelta(seconds=lateness_s)
        self.sample_count = samples
        self.follow_events = follow_events  # False: only ``advance`` moves the watermark
        self.open: dict[tuple[str, datetime], _Open] = {}
        self.watermark = EPOCH
        self.dropped_late = 0
        self.latest: datetime | None = None  # newest published_at counted
        self._next_due = EPOCH  # no window can close before this

    def start_of(self, at: datetime) -> datetime:
        """Start of the window holding ``at``."""
        return EPOCH + ((at - EPOCH) // self.window) * self.window

    def add(self, entry: KeyedItem) -> WindowStats | None:
        """Count an entry; returns its window's counts so far, or None when too late.

        The returned counts carry no samples (ranking them per entry is costly): see
        ``samples``.
        """
        start = self.start_of(entry.published_at)
        if start + self.window <= self.watermark:  # its window has closed
            self.dropped_late += 1
            return None
        if self.follow_events:
            self.advance(entry.published_at - self.lateness)
        if self.latest is None or entry.published_at > self.latest:
            self.latest = entry.published_at
        window = self.open.setdefault((entry.key, start), _Open())
        was_negative = window.stories.get(entry.story_id, False)
        window.stories[entry.story_id] = was_negative or entry.negative
        if entry.negative:
            window.negative += 0 if was_negative else 1
            best = window.samples.get(entry.story_id)
            if best is None or entry.score > best.score:
                window.samples[entry.story_id] = AlertSample(
                    id=entry.item_id, title=entry.title, url=entry.url, score=entry.score
                )
            if len(window.samples) > 4 * self.sample_count:  # keep the snapshot small
                keep = self._ranked(window)[: self.sample_count]
                window.samples = {s: window.samples[s] for s in keep}
        return self._stats(entry.key, start, window, with_samples=False)

    def current(self, key: str, start: datetime) -> WindowStats:
        """Counts so far of an open window (without samples)."""
        return self._stats(key, start, self.open[(key, start)], with_samples=False)

    def samples(self, key: str, start: datetime) -> list[AlertSample]:
        """The most negative stories of an open window, best first."""
        window = self.open.get((key, start))
        return [] if window is None else self.samples_of(window)

    def samples_of(self, window: _Open) -> list[AlertSample]:
        """A window's most negative stories, best first."""
        return [window.samples[s] for s in self._ranked(window)[: self.sample_count]]

    def advance(self, to: datetime) -> None:
        """Move the watermark forward (never back)."""
        self.watermark = max(self.watermark, to)

    @staticmethod
    def _ranked(window: _Open) -> list[str]:
        return sorted(window.samples, key=lambda s: (-window.samples[s].score, s))

    def _stats(
        self, key: str, start: datetime, window: _Open, with_samples: bool = True
    ) -> WindowStats:
        samples = self.samples_of(window) if with_samples else []
        return WindowStats(
            key, start, start + self.window, window.negative, len(window.stories), samples
        )

    def close_due(self) -> list[WindowStats]:
        """Windows whose end the watermark has passed, oldest first."""
        if self.watermark < self._next_due:
            return []  # windows are only created ending after the watermark: nothing is due
        self._next_due = self.start_of(self.watermark) + self.window
        due = sorted(
            (k for k in self.open if k[1] + self.window <= self.watermark),
            key=lambda k: (k[1], k[0]),
        )
        return [self._stats(key, start, self.open.pop((key, start))) for key, start in due]

    def snapshot(self) -> dict[str, Any]:
        """JSON-able state."""
        return {
            "watermark": self.watermark.isoformat(),
            "dropped_late": self.dropped_late,
            "latest": self.latest.isoformat() if self.latest else None,
            "open": [
                {
                    "key": key,
                    "start": start.isoformat(),
                    "stories": w.stories,
                    "negative": w.negative,
                    "samples": {s: a.model_dump() for s, a in w.samples.items()},
                }
                for (key, start), w in self.open.items()
            ],
        }

    def restore(self, state: dict[str, Any]) -> None:
        """Load a snapshot taken by ``snapshot``."""
        self.watermark = datetime.fromisoformat(state["watermark"])
        self._next_due = EPOCH
        self.dropped_late = int(state["dropped_late"])
        latest = state.get("latest")
        self.latest = datetime.fromisoformat(latest) if latest else None
        self.open = {
            (w["key"], datetime.fromisoformat(w["start"])): _Open(
                stories=dict(w["stories"]),
                samples={s: AlertSample(**a) for s, a in w["samples"].items()},
                negative=int(w["negative"]),
            )
            for w in state["open"]
        }
