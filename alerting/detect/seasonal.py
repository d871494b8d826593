"""A key's weekly rhythm: how much busier than average each hour of the week is.

Every closed period adds the key's story count (all stories, negative or not: volume is the
rhythm, and it is far less noisy than the negatives alone) to its hour-of-week slot (168
slots, UTC). How long the key has been watched in each slot (its exposure) follows from
the period it was first seen, so an empty period costs nothing. The factor of a slot is its
rate over the key's mean rate, estimated with empirical-Bayes shrinkage so that noise is not
taken for rhythm and a young key falls back gracefully:

- hour of day: the slot's hour over all days seen, shrunk towards the prior profile;
- hour of week: the slot itself, shrunk towards its hour of day (and ``prior_periods`` of
  pseudo-exposure: a day of the week is seen once a week);

each by how much the slots really differ beyond Poisson noise (``_shrunk``): flat traffic
keeps a flat profile, a strong day/night rhythm is learned from the first day. The factors
are smoothed lightly over neighbouring hours (0.05, 0.9, 0.05: a market-open burst is
sharp) and normalised to a mean of 1. The prior is flat unless a rule gives one per key
type (``rhythm``): detector workers each see only their own keys, so a profile learned
across keys would make their alerts differ from one worker's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

HOURS_PER_WEEK = 168
MONDAY_OFFSET_H = 72  # 1970-01-01 was a Thursday: hour 0 of the epoch is hour 72 of its week
SIDE = 0.05  # weight of each neighbouring hour in the smoothing


def slot_of_hour(epoch_hour: int) -> int:
    """Hour-of-week (0 = Monday 00:00 UTC) of an hour counted from the epoch."""
    return (epoch_hour + MONDAY_OFFSET_H) % HOURS_PER_WEEK


@dataclass(slots=True)
class SeasonalProfile:
    """Stories per hour-of-week slot since a key was first seen."""

    per_hour: int  # periods per hour
    counts: dict[int, float] = field(default_factory=dict)  # slot -> stories, complete hours
    first: int | None = None  # first period watched
    hour: int | None = None  # the hour being observed (not in ``counts`` yet)
    stories: float = 0.0  # its stories so far
    _cache: tuple[int, list[float]] | None = None

    def observe(self, period: int, stories: int) -> None:
        """A closed period's story count (periods must come in order).

        Counts join the profile by whole hours, so the factors change once an hour and
        depend only on the hours before the one they are asked for.
        """
        if self.first is None:
            self.first = period
        hour = period // self.per_hour
        if self.hour is not None and hour != self.hour:
            self._complete()
        self.hour = hour
        self.stories += stories

    def _complete(self) -> None:
        if self.hour is not None and self.stories:
            slot = slot_of_hour(self.hour)
            self.counts[slot] = self.counts.get(slot, 0.0) + self.stories
        self.hour, self.stories = None, 0.0
        self._cache = None

    def exposure(self, until: int) -> list[float]:
        """Periods watched per slot, from ``first`` up to (excluding) period ``until``."""
        return [float(e) for e in self._exposure(until)]

    def _exposure(self, until: int) -> np.ndarray:
        """``exposure`` as whole numbers of periods (exact), in an array."""
        if self.first is None or until <= self.first:
            return np.zeros(HOURS_PER_WEEK)
        week = HOURS_PER_WEEK * self.per_hour
        full, rest = divmod(until - self.first, week)
        out = np.full(HOURS_PER_WEEK, float(full * self.per_hour))
        if rest:  # the last, partial week: the hours of its periods
            hours = np.arange(self.first, self.first + rest) // self.per_hour
            out += np.bincount((hours + MONDAY_OFFSET_H) % HOURS_PER_WEEK,
                               minlength=HOURS_PER_WEEK)  # fmt: skip
        return out

    def factors(
        self, until: int, prior: Sequence[float] | None, prior_periods: float
    ) -> list[float]:
        """The 168 slot factors (mean 1) from the hours before ``until``'s (cached per hour).

        Element-wise steps run on arrays (the same IEEE operations as on floats, so the
        same factors); sums of non-integers stay Python sums in slot order.
        """
        hour = until // self.per_hour
        if self.hour is not None and self.hour < hour:
            self._complete()  # that hour is over (the key was silent since)
        if self._cache is not None and self._cache[0] == hour:
            return self._cache[1]
        flat = _FLAT if prior is None else tuple(prior)
        if not self.counts or self.first is None or hour * self.per_hour <= self.first:
            factors = _normalised(flat)
        else:
            exposure = self._exposure(hour * self.per_hour)
            counts = np.zeros(HOURS_PER_WEEK)
            counts[list(self.counts)] = list(self.counts.values())
            mean = float(counts.sum()) / float(exposure.sum())  # whole numbers: exact sums
            by_day = (HOURS_PER_WEEK // 24, 24)
            hod = _shrunk_array(
                counts.reshape(by_day).sum(axis=0),  # whole numbers: exact
                exposure.reshape(by_day).sum(axis=0),
                mean * _day_sums(flat) / 7,
                0.0,
            )
            how = _shrunk_array(counts, exposure, np.tile(hod, by_day[0]), prior_periods)
            smooth = SIDE * how[_BEFORE] + (1 - 2 * SIDE) * how + SIDE * how[_AFTER]
            factors = _normalised_array(smooth)
        self._cache = (hour, factors)
        return factors

    def to_json(self) -> dict[str, Any]:
        """JSON-able form."""
        return {"counts": {str(s): c for s, c in self.counts.items()}, "first": self.first,
                "hour": self.hour, "stories": self.stories}  # fmt: skip

    @classmethod
    def from_json(cls, data: dict[str, Any], per_hour: int) -> SeasonalProfile:
        """Inverse of ``to_json``."""
        counts = {int(s): float(c) for s, c in data["counts"].items()}
        return cls(per_hour, counts, data["first"], data.get("hour"), data.get("stories", 0.0))


def _shrunk(
    counts: Sequence[float], exposure: Sequence[float], prior: Sequence[float], floor: float
) -> list[float]:
    """Per-slot rates shrunk towards ``prior`` by how much the slots really differ from it.

    Empirical Bayes for Poisson rates: the spread of the slots' rates around the prior that
    sampling noise alone would give (rate / exposure) is subtracted from the spread seen;
    what is left is the real variation (``tau2``). A slot's weight on its own rate is
    ``tau2 / (tau2 + noise)``: on flat traffic the noise explains everything and the
    profile stays flat; a strong rhythm is learned from the first day. ``floor``
    pseudo-periods of prior regularise slots with little exposure.
    """
    seen = [i for i, e in enumerate(exposure) if e > 0]
    if not seen:
        return list(prior)
    rates = {i: counts[i] / exposure[i] for i in seen}
    noise = {i: max(prior[i], 1e-9) / exposure[i] for i in seen}
    spread = sum((rates[i] - prior[i]) ** 2 for i in seen) / len(seen)
    tau2 = max(0.0, spread - sum(noise.values()) / len(seen))
    out = []
    for i, base in enumerate(prior):
        if exposure[i] <= 0:
            out.append(base)
            continue
        weight = tau2 / (tau2 + noise[i]) if tau2 > 0 else 0.0
        weight *= exposure[i] / (exposure[i] + floor)
        out.append(base + weight * (rates[i] - base))
    return out


_FLAT = (1.0,) * HOURS_PER_WEEK
_BEFORE = np.roll(np.arange(HOURS_PER_WEEK), 1)  # slot s -> s - 1, around the week
_AFTER = np.roll(np.arange(HOURS_PER_WEEK), -1)
_DAY_SUMS: dict[tuple[float, ...], np.ndarray] = {}


def _day_sums(prior: tuple[float, ...]) -> np.ndarray:
    """Per hour of day, the prior's factors summed over the week in slot order (cached)."""
    sums = _DAY_SUMS.get(prior)
    if sums is None:
        sums = _DAY_SUMS[prior] = np.array(
            [sum(prior[s] for s in range(of_day, HOURS_PER_WEEK, 24)) for of_day in range(24)]
        )
    return sums


def _shrunk_array(
    counts: np.ndarray, exposure: np.ndarray, prior: np.ndarray, floor: float
) -> np.ndarray:
    """``_shrunk`` on arrays: the same operations, element-wise, in the same order."""
    seen = exposure > 0
    if not seen.any():
        return prior.copy()
    watched = np.where(seen, exposure, 1.0)
    rates = counts / watched
    noise = np.maximum(prior, 1e-9) / watched
    n = int(seen.sum())
    spread = sum(d**2 for d in (rates[seen] - prior[seen]).tolist()) / n
    tau2 = max(0.0, spread - sum(noise[seen].tolist()) / n)
    if tau2 <= 0:
        return prior.copy()  # every weight is 0: base + 0 x (rate - base) is base
    weight = tau2 / (tau2 + noise)
    weight = weight * (watched / (watched + floor))
    return np.where(seen, prior + weight * (rates - prior), prior)


def _normalised_array(values: np.ndarray) -> list[float]:
    """``_normalised`` of an array."""
    mean = sum(values.tolist()) / len(values)
    if mean <= 0:
        return [1.0] * len(values)
    return np.maximum(values / mean, 0.05).tolist()  # type: ignore[no-any-return]


def _normalised(values: Sequence[float]) -> list[float]:
    mean = sum(values) / len(values)
    if mean <= 0:
        return [1.0] * len(values)
    return [max(v / mean, 0.05) for v in values]


def expand_rhythm(values: Sequence[float]) -> list[float]:
    """A rule's ``rhythm`` (24 hour-of-day or 168 hour-of-week values) as 168 factors."""
    if len(values) == 24:
        return _normalised([values[s % 24] for s in range(HOURS_PER_WEEK)])
    if len(values) == HOURS_PER_WEEK:
        return _normalised(values)
    raise ValueError(f"a rhythm has 24 or 168 values, not {len(values)}")
