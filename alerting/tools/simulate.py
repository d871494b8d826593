"""Generated traffic with known surges, for tests, backtests and the alerting benchmark.

Each key gets Poisson(``negative``) negative and Poisson(``other``) other stories per window,
at uniform times inside the window, both scaled by the hour's ``rhythm`` factor when one is
given (24 hour-of-day or 48 half-hour-of-day factors, UTC or ``timezone``'s local time); a
surge multiplies the negative rate of
``surge_windows`` windows from ``surge_window``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np

from finsent.schemas import KeyedItem

T0 = datetime(2026, 3, 2, tzinfo=UTC)


@dataclass(frozen=True)
class Traffic:
    """Per-window rates of one key, and an optional surge."""

    negative: float
    other: float
    surge_window: int | None = None
    surge_factor: float = 4.0
    surge_windows: int = 1
    rhythm: tuple[float, ...] | None = None  # 24 hour-of-day or 48 half-hour-of-day factors
    timezone: str | None = None  # the rhythm's clock (None: UTC), e.g. America/New_York

    def factor(self, at: datetime) -> float:
        """The rhythm's factor at a time (1 without a rhythm)."""
        if self.rhythm is None:
            return 1.0
        if self.timezone is not None:
            at = at.astimezone(ZoneInfo(self.timezone))
        if len(self.rhythm) == 48:
            return self.rhythm[2 * at.hour + at.minute // 30]
        return self.rhythm[at.hour]

    def surged(self, window: int) -> bool:
        """Whether a window is inside the surge."""
        first = self.surge_window
        return first is not None and first <= window < first + self.surge_windows


def generate(
    keys: dict[str, Traffic], windows: int, window_s: int = 900, seed: int = 0, start: datetime = T0
) -> list[KeyedItem]:
    """Entries of every key over ``windows`` windows, in event-time order."""
    rng = np.random.default_rng(seed)
    rows: list[tuple[datetime, str, bool, str]] = []
    for key, traffic in keys.items():
        for window in range(windows):
            factor = traffic.factor(start + timedelta(seconds=window * window_s))
            rate = traffic.negative * factor
            if traffic.surged(window):
                rate *= traffic.surge_factor
            negative = int(rng.poisson(rate))
            total = negative + int(rng.poisson(traffic.other * factor))
            offsets = rng.uniform(0, window_s, size=total)
            for i in range(total):
                at = start + timedelta(seconds=window * window_s + float(offsets[i]))
                rows.append((at, key, i < negative, f"{key}-{window}-{i}"))
    rows.sort()
    return [
        KeyedItem(
            key=key,
            item_id=story,
            story_id=story,
            published_at=at,
            negative=negative,
            score=0.9 if negative else 0.1,
            title=f"{key} story",
        )
        for at, key, negative, story in rows
    ]
