"""Generated traffic with known surges, for tests, backtests and the alerting benchmark.

Each key gets Poisson(``negative``) negative and Poisson(``other``) other stories per window,
at uniform times inside the window; a surge multiplies the negative rate of one window.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

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


def generate(
    keys: dict[str, Traffic], windows: int, window_s: int = 900, seed: int = 0, start: datetime = T0
) -> list[KeyedItem]:
    """Entries of every key over ``windows`` windows, in event-time order."""
    rng = np.random.default_rng(seed)
    rows: list[tuple[datetime, str, bool, str]] = []
    for key, traffic in keys.items():
        for window in range(windows):
            rate = traffic.negative
            if window == traffic.surge_window:
                rate *= traffic.surge_factor
            negative = int(rng.poisson(rate))
            total = negative + int(rng.poisson(traffic.other))
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
