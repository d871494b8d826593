"""A key's weekly rhythm: how much busier than average each slot of the week is.

A slot is ``rhythm_slot_s`` long (half an hour by default, 336 slots a week, UTC; an hour
gives 168): the US market opens at 14:30 UTC (13:30 in summer), so an hour-wide slot would
average its first, busiest half-hour with the half before it and under-expect the open.
Every closed period adds the key's story count (all stories, negative or not: volume is the
rhythm, and it is far less noisy than the negatives alone) to its slot of the week. How
long the key has been watched in each slot (its exposure) follows from the period it was
first seen, so an empty period costs nothing. The factor of a slot is its
rate over the key's mean rate, estimated with empirical-Bayes shrinkage so that noise is not
taken for rhythm and a young key falls back gracefully:

- time of day: the slot's time of day over all days seen, shrunk towards the prior profile;
- time of week: the slot itself, shrunk towards its time of day (and ``prior_periods`` of
  pseudo-exposure: a day of the week is seen once a week);

each by how much the slots really differ beyond Poisson noise (``_shrunk``): flat traffic
keeps a flat profile, a strong day/night rhythm is learned from the first day. The factors
are smoothed lightly over neighbouring slots (0.05, 0.9, 0.05: a market-open burst is
sharp) and normalised to a mean of 1. The prior is flat unless a rule gives one per key
type (``rhythm``): detector workers each see only their own keys, so a profile learned
across keys would make their alerts differ from one worker's.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import repeat
from math import floor, lcm
from typing import Any

import numpy as np

from alerting.detect.localtime import ZoneOffsets, zone_offsets

HOURS_PER_WEEK = 168
MONDAY_OFFSET_H = 72  # 1970-01-01 was a Thursday: hour 0 of the epoch is hour 72 of its week
SIDE = 0.05  # weight of each neighbouring slot in the smoothing
DEFAULT_SLOT_S = 1800


def slot_seconds(window_s: int, requested: int | None = None) -> int:
    """The rhythm's slot length, s: ``requested``, checked, or the default for ``window_s``.

    A slot is whole periods and divides an hour. The default is half an hour, or, where a
    period does not divide that (20 min), the smallest multiple of the period from 30 min
    that divides an hour.
    """
    if requested is not None:
        if requested % window_s or 3600 % requested:
            raise ValueError(
                f"rhythm_slot_s ({requested}) must be a multiple of window_s ({window_s}) "
                "and divide an hour"
            )
        return requested
    return next(s for s in range(window_s, 3601, window_s) if s >= DEFAULT_SLOT_S and
                not 3600 % s)  # fmt: skip


def slot_of(epoch_slot: int, slots_per_hour: int = 1) -> int:
    """Slot of the week (0 = Monday 00:00) of a slot counted from the epoch (UTC or local)."""
    return (epoch_slot + MONDAY_OFFSET_H * slots_per_hour) % (HOURS_PER_WEEK * slots_per_hour)


@dataclass(slots=True)
class SeasonalProfile:
    """Stories per slot of the week since a key was first seen."""

    per_slot: int  # periods per slot
    slots_per_hour: int = 1
    counts: dict[int, float] = field(default_factory=dict)  # slot -> stories, complete slots
    first: int | None = None  # first period watched (UTC)
    slot: int | None = None  # the slot being observed (local, from the epoch; not in counts)
    stories: float = 0.0  # its stories so far
    start: int | None = None  # the UTC period it began: a repeated local hour is another
    _cache: tuple[int, array[float]] | None = None  # 8 bytes a slot (a list: 32)
    offsets: ZoneOffsets | None = None  # the rhythm's clock; None: UTC

    def occurrence(self, period: int) -> tuple[int, int]:
        """The local slot (from the epoch) a UTC period falls in, and the UTC period it began.

        The start tells the two passes of a repeated hour apart (a clock set back), and a
        slot cut short by a clock change begins where the change is.
        """
        if self.offsets is None:
            slot = period // self.per_slot
            return slot, slot * self.per_slot
        run_start, _, offset = self.offsets.run(period)
        local = period + offset
        slot = local // self.per_slot
        return slot, max(period - local % self.per_slot, run_start)

    @property
    def size(self) -> int:
        """Slots in a week."""
        return HOURS_PER_WEEK * self.slots_per_hour

    def observe(self, period: int, stories: int) -> None:
        """A closed period's story count (periods must come in order).

        Counts join the profile by whole slots, so the factors change once a slot and
        depend only on the slots before the one they are asked for.
        """
        if self.first is None:
            self.first = period
        slot, start = self.occurrence(period)
        if self.start is not None and start != self.start:
            self._complete()
        self.slot, self.start = slot, start
        self.stories += stories

    def _complete(self) -> None:
        if self.slot is not None and self.stories:
            slot = slot_of(self.slot, self.slots_per_hour)
            self.counts[slot] = self.counts.get(slot, 0.0) + self.stories
        self.slot, self.start, self.stories = None, None, 0.0
        self._cache = None

    def exposure(self, until: int) -> list[float]:
        """Periods watched per slot, from ``first`` up to (excluding) period ``until``."""
        return [float(e) for e in self._exposure(until)]

    def _exposure(self, until: int) -> np.ndarray:
        """``exposure`` as whole numbers of periods (exact), in an array."""
        if self.first is None or until <= self.first:
            return np.zeros(self.size)
        if self.offsets is None:
            return self._watched(self.first, until)
        out = np.zeros(self.size)  # at a clock change an hour is skipped or watched twice
        for start, end, offset in self.offsets.segments(self.first, until):
            out += self._watched(start + offset, end + offset)
        return out

    def _watched(self, first: int, until: int) -> np.ndarray:
        """Periods per slot of the week in ``[first, until)`` of the rhythm's clock."""
        size = self.size
        full, rest = divmod(until - first, size * self.per_slot)
        out = np.full(size, float(full * self.per_slot))
        if rest:  # the last, partial week: the slots of its periods
            slots = np.arange(first, first + rest) // self.per_slot
            out += np.bincount((slots + MONDAY_OFFSET_H * self.slots_per_hour) % size,
                               minlength=size)  # fmt: skip
        return out

    def factors(
        self, until: int, prior: Sequence[float] | None, prior_periods: float
    ) -> array[float]:
        """The slot factors (mean 1) from the slots before ``until``'s (cached per slot).

        ``prior`` has one factor per slot (``expand_rhythm``). Element-wise steps run on
        arrays (the same IEEE operations as on floats, so the same factors); sums of
        non-integers stay Python sums in slot order.
        """
        _, slot_start = self.occurrence(until)  # the UTC period where ``until``'s slot began
        if self.start is not None and self.start < slot_start:
            self._complete()  # that slot is over (the key was silent since)
        if self._cache is not None and self._cache[0] == slot_start:
            return self._cache[1]
        size = self.size
        flat = (1.0,) * size if prior is None else tuple(prior)
        if not self.counts or self.first is None or slot_start <= self.first:
            factors = array("d", _normalised(flat))
        else:
            exposure = self._exposure(slot_start)
            counts = np.zeros(size)
            counts[list(self.counts)] = list(self.counts.values())
            mean = float(counts.sum()) / float(exposure.sum())  # whole numbers: exact sums
            by_day = (7, size // 7)
            tod = _shrunk_array(
                counts.reshape(by_day).sum(axis=0),  # whole numbers: exact
                exposure.reshape(by_day).sum(axis=0),
                mean * _day_sums(flat) / 7,
                0.0,
            )
            tow = _shrunk_array(counts, exposure, np.tile(tod, 7), prior_periods)
            before, after = _neighbours(size)
            smooth = SIDE * tow[before] + (1 - 2 * SIDE) * tow + SIDE * tow[after]
            factors = array("d", _normalised_array(smooth))
        self._cache = (slot_start, factors)
        return factors

    def to_json(self) -> dict[str, Any]:
        """JSON-able form."""
        return {"counts": {str(s): c for s, c in self.counts.items()}, "first": self.first,
                "slot": self.slot, "start": self.start, "stories": self.stories,
                "slots_per_hour": self.slots_per_hour,
                "timezone": self.offsets.name if self.offsets else "UTC"}  # fmt: skip

    @classmethod
    def from_json(
        cls,
        data: dict[str, Any],
        per_slot: int,
        slots_per_hour: int = 1,
        offsets: ZoneOffsets | None = None,
    ) -> SeasonalProfile:
        """Inverse of ``to_json``; a profile of another slot length or clock is converted.

        Snapshots from before slots had a length are hourly (``hour``), and UTC. Re-binning
        spreads each old slot's stories evenly over the new slots it overlaps (a finer
        rhythm is then learned again as new slots complete); the slot being observed keeps
        its stories in the new slot where it starts. A profile kept on another clock is
        then moved by the difference of the two clocks' offsets at the slot being observed
        (to the nearest slot), so the open stays the open.
        """
        stored = int(data.get("slots_per_hour", 1))
        counts = {int(s): float(c) for s, c in data["counts"].items()}
        current = data.get("slot", data.get("hour"))
        start = data.get("start")
        if stored != slots_per_hour:
            fine = lcm(stored, slots_per_hour)
            split, merge = fine // stored, fine // slots_per_hour
            rebinned: dict[int, float] = {}
            for s, c in counts.items():
                for f in range(s * split, (s + 1) * split):
                    rebinned[f // merge] = rebinned.get(f // merge, 0.0) + c / split
            counts = rebinned
            if current is not None:
                current = current * split // merge
            start = None
        zone = data.get("timezone", "UTC")
        new_zone = offsets.name if offsets else "UTC"
        old = zone_offsets(zone, 3600 // slots_per_hour // per_slot) if zone != new_zone else None
        if zone != new_zone and data["first"] is not None:
            # the two clocks' difference now (at the slot being observed, else at the start)
            at = int(data["first"])
            if current is not None:
                local = current * per_slot
                at = local - (old.at(local) if old else 0)
            moved = (offsets.at(at) if offsets else 0) - (old.at(at) if old else 0)
            shift = floor(moved / per_slot + 0.5)  # in slots, half a slot rounds up
            size = HOURS_PER_WEEK * slots_per_hour
            counts = {(s + shift) % size: c for s, c in counts.items()}
            if current is not None:
                current += shift
            start = None
        profile = cls(per_slot, slots_per_hour, counts, data["first"], current,
                      data.get("stories", 0.0), start, offsets=offsets)  # fmt: skip
        if current is not None and start is None:  # the UTC period its slot began, again
            local = current * per_slot
            offset = offsets.at(local) if offsets else 0
            profile.start = profile.occurrence(local - offset)[1]
        return profile


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


_DAY_SUMS: dict[tuple[float, ...], np.ndarray] = {}
_NEIGHBOURS: dict[int, tuple[np.ndarray, np.ndarray]] = {}


def _neighbours(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Indexes of each slot's neighbour before and after it, around the week (cached)."""
    found = _NEIGHBOURS.get(size)
    if found is None:
        slots = np.arange(size)
        found = _NEIGHBOURS[size] = (np.roll(slots, 1), np.roll(slots, -1))
    return found


def _day_sums(prior: tuple[float, ...]) -> np.ndarray:
    """Per slot of the day, the prior's factors summed over the week in slot order (cached)."""
    sums = _DAY_SUMS.get(prior)
    if sums is None:
        per_day = len(prior) // 7
        sums = _DAY_SUMS[prior] = np.array(
            [sum(prior[s] for s in range(of_day, len(prior), per_day)) for of_day in range(per_day)]
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
    deviations = (rates[seen] - prior[seen]).tolist()
    spread = sum(map(pow, deviations, repeat(2))) / n  # d**2 each, summed in slot order
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


def expand_rhythm(values: Sequence[float], slots_per_hour: int = 1) -> list[float]:
    """A rule's ``rhythm`` (24 hour-of-day or 168 hour-of-week values) as one factor per slot."""
    size = HOURS_PER_WEEK * slots_per_hour
    if len(values) == 24:
        return _normalised([values[(s // slots_per_hour) % 24] for s in range(size)])
    if len(values) == HOURS_PER_WEEK:
        return _normalised([values[s // slots_per_hour] for s in range(size)])
    raise ValueError(f"a rhythm has 24 or 168 values, not {len(values)}")
