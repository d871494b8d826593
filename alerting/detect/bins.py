"""Per-key story counts in short event-time bins, with allowed lateness.

Entries are placed by ``published_at`` into bins of ``bin_s`` (1 min by default); bins are
grouped into periods of ``period_s`` (15 min), the unit in which baselines are folded and
incidents anchored. A period closes once the watermark (the latest event time seen minus
``lateness_s``, or a clock the caller advances it to) has passed its end; entries of a
closed bin are too late: dropped and counted.

Syndicated copies of one story (same ``story_id``) count once per key, in the bin of the
earliest copy, so ten outlets re-publishing a story do not look like ten negative stories.
Bins, stories and evidence older than ``span_bins`` before the oldest open period are
dropped (``prune``): the state of a key is bounded by the longest scan window.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from alerting.detect.keys import checked
from finsent.schemas import AlertSample, KeyedItem

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(slots=True)
class KeyBins:
    """One key's recent bins: distinct negative and total stories, and the evidence."""

    negative: dict[int, int] = field(default_factory=dict)
    total: dict[int, int] = field(default_factory=dict)
    stories: dict[str, list[Any]] = field(default_factory=dict)  # story -> [bin, negative]
    by_bin: dict[int, list[str]] = field(default_factory=dict)  # bin -> its stories
    samples: dict[str, AlertSample] = field(default_factory=dict)  # negative stories' best copy
    # sums of the windows ending at ``cached_at`` (kept up to date as stories land in them)
    cached_at: int | None = None
    cached_lengths: tuple[int, ...] = ()
    cached: list[list[int]] = field(default_factory=list)  # [negative, total] per length
    negatives: int = 0  # sum of ``negative``: no window holds more

    def windows(self, last: int, lengths: tuple[int, ...]) -> list[list[int]]:
        """[negative, total] of the windows of each length ending at bin ``last``."""
        if self.cached_lengths == lengths and self.cached_at is not None:
            step = last - self.cached_at
            if step == 0:
                return self.cached
            if 0 < step <= lengths[0] or 2 * abs(step) * len(lengths) < len(self.total):
                # slide the windows (forward or back) rather than summing every bin again
                negative, total = self.negative, self.total
                sign = 1 if step > 0 else -1
                low, high = min(self.cached_at, last) + 1, max(self.cached_at, last) + 1
                for j, length in enumerate(lengths):
                    window = self.cached[j]
                    for b in range(low, high):  # bins entering (forward) or leaving (back)
                        window[0] += sign * negative.get(b, 0)
                        window[1] += sign * total.get(b, 0)
                    for b in range(low - length, high - length):
                        window[0] -= sign * negative.get(b, 0)
                        window[1] -= sign * total.get(b, 0)
                self.cached_at = last
                return self.cached
        sums = [[0, 0] for _ in lengths]  # first per ring of ages, then cumulated
        longest = lengths[-1]
        negatives = self.negative
        for b, count in self.total.items():
            age = last - b
            if 0 <= age < longest:
                ring = sums[bisect_right(lengths, age)]
                ring[0] += negatives.get(b, 0)
                ring[1] += count
        for j in range(1, len(sums)):
            sums[j][0] += sums[j - 1][0]
            sums[j][1] += sums[j - 1][1]
        self.cached_at, self.cached_lengths, self.cached = last, lengths, sums
        return sums

    def counted(self, index: int, total: int, negative: int) -> None:
        """Keep the cached window sums right after a change at bin ``index``."""
        if self.cached_at is None or index > self.cached_at:
            return
        age = self.cached_at - index
        for j, length in enumerate(self.cached_lengths):
            if age < length:
                self.cached[j][0] += negative
                self.cached[j][1] += total

    def window(self, first: int, last: int) -> tuple[int, int]:
        """Negative and total stories in bins ``first..last`` (inclusive)."""
        negative = total = 0
        if last - first + 1 < len(self.total):
            for b in range(first, last + 1):
                total += self.total.get(b, 0)
                negative += self.negative.get(b, 0)
            return negative, total
        for b, count in self.total.items():
            if first <= b <= last:
                total += count
                negative += self.negative.get(b, 0)
        return negative, total


class BinCounter:
    """Bins of every key of one detector; the watermark closes periods."""

    def __init__(
        self,
        bin_s: int,
        period_s: int,
        lateness_s: int,
        span_bins: int,
        samples: int = 5,
        follow_events: bool = True,
    ) -> None:
        if period_s % bin_s:
            raise ValueError(f"the period ({period_s} s) must be a multiple of bin_s ({bin_s} s)")
        self.bin_s = bin_s
        self.per_period = period_s // bin_s
        self.lateness = timedelta(seconds=lateness_s)
        self.span_bins = span_bins
        self.sample_count = samples
        self.follow_events = follow_events  # False: only ``advance`` moves the watermark
        self.keys: dict[str, KeyBins] = {}
        self.active: dict[int, set[str]] = {}  # open period -> keys with stories in it
        self._open = 0  # ``open_period()``, kept with the watermark (read on every entry)
        self._last_at: datetime | None = None  # the time of the last entry, and its bin
        self._last_bin = 0
        self.watermark = EPOCH
        self.dropped_late = 0
        self.latest: datetime | None = None  # newest published_at counted

    # -- time ----------------------------------------------------------------------------

    def bin_of(self, at: datetime) -> int:
        """Index of the bin holding ``at``."""
        return int((at - EPOCH).total_seconds() // self.bin_s)

    def bin_start(self, index: int) -> datetime:
        """Start of a bin."""
        return EPOCH + timedelta(seconds=index * self.bin_s)

    def period_of(self, bin_index: int) -> int:
        """Index of the period holding a bin."""
        return bin_index // self.per_period

    @property
    def watermark(self) -> datetime:
        """Event time up to which periods are closed."""
        return self._watermark

    @watermark.setter
    def watermark(self, value: datetime) -> None:
        self._watermark = value
        closed_bins = int((value - EPOCH).total_seconds() // self.bin_s)
        self._open = closed_bins // self.per_period

    def open_period(self) -> int:
        """The oldest period the watermark has not closed."""
        return self._open

    def advance(self, to: datetime) -> None:
        """Move the watermark forward (never back)."""
        if to > self._watermark:
            self.watermark = to

    # -- counting ------------------------------------------------------------------------

    def add(self, entry: KeyedItem) -> int | None:
        """Count an entry; its bin, or None when its period (or its story's) has closed."""
        at = entry.published_at
        if at is not self._last_at:  # an item's entries share one time: place it once
            self._last_at, self._last_bin = at, self.bin_of(at)
            if self.follow_events:
                self.advance(at - self.lateness)
        index = self._last_bin
        if index // self.per_period < self._open:
            self.dropped_late += 1
            return None
        if self.latest is None or at > self.latest:
            self.latest = at
        bins = self.keys.get(entry.key)
        if bins is None:
            bins = self.keys[entry.key] = KeyBins()
        seen = bins.stories.get(entry.story_id)
        if seen is None:
            bins.stories[entry.story_id] = [index, entry.negative]
            bins.by_bin.setdefault(index, []).append(entry.story_id)
            self._count(bins, index, 1, int(entry.negative))
        else:
            was, negative = seen
            if was // self.per_period < self._open:
                # the story's period has closed (tested and folded once): a copy changes no
                # count of it, nor makes that period active again, as a late story would not
                return None
            if index < was:
                self._count(bins, was, -1, -int(negative))  # the earliest copy places it
                bins.by_bin[was].remove(entry.story_id)
                seen[0] = index
                bins.by_bin.setdefault(index, []).append(entry.story_id)
                self._count(bins, index, 1, int(negative))
            if entry.negative and not negative:
                seen[1] = True
                bins.negative[seen[0]] = bins.negative.get(seen[0], 0) + 1
                bins.negatives += 1
                bins.counted(seen[0], 0, 1)
            index = seen[0]
        self.active.setdefault(index // self.per_period, set()).add(entry.key)
        self._sample(bins, entry)
        return index

    def _sample(self, bins: KeyBins, entry: KeyedItem) -> None:
        """Keep the entry as its story's evidence if it is the most negative copy yet."""
        if entry.negative:
            best = bins.samples.get(entry.story_id)
            if best is None or entry.score > best.score:
                bins.samples[entry.story_id] = checked(AlertSample, {
                    "id": entry.item_id, "title": entry.title, "url": entry.url,
                    "score": entry.score,
                })  # fmt: skip

    @staticmethod
    def _count(bins: KeyBins, index: int, total: int, negative: int) -> None:
        bins.counted(index, total, negative)
        left = bins.total.get(index, 0) + total
        if left:
            bins.total[index] = left
        else:
            bins.total.pop(index, None)
        if negative:
            bins.negatives += negative
            remaining = bins.negative.get(index, 0) + negative
            if remaining:
                bins.negative[index] = remaining
            else:
                bins.negative.pop(index, None)

    # -- reading -------------------------------------------------------------------------

    def windows(self, key: str, last: int, lengths: tuple[int, ...]) -> list[list[int]]:
        """[negative, total] of a key's windows of each length (ascending) ending at ``last``."""
        bins = self.keys.get(key)
        return [[0, 0] for _ in lengths] if bins is None else bins.windows(last, lengths)

    def stored_negative(self, key: str) -> int:
        """Negative stories in all of a key's bins: a bound on any of its windows."""
        bins = self.keys.get(key)
        return 0 if bins is None else bins.negatives

    def window(self, key: str, first: int, last: int) -> tuple[int, int]:
        """Negative and total stories of a key in bins ``first..last``."""
        bins = self.keys.get(key)
        return (0, 0) if bins is None else bins.window(first, last)

    def filled(self, key: str, period: int) -> list[int]:
        """The bins of a period where the key has stories, in order."""
        bins = self.keys.get(key)
        if bins is None:
            return []
        first = period * self.per_period
        return sorted(b for b in bins.total if first <= b < first + self.per_period)

    def samples(self, key: str, first: int, last: int) -> list[AlertSample]:
        """The most negative stories of bins ``first..last``, best first."""
        bins = self.keys.get(key)
        if bins is None:
            return []
        inside = [
            (sample, story)
            for story, sample in bins.samples.items()
            if first <= bins.stories[story][0] <= last
        ]
        inside.sort(key=lambda s: (-s[0].score, s[1]))
        return [sample for sample, _ in inside[: self.sample_count]]

    # -- bounds --------------------------------------------------------------------------

    def close(self, period: int) -> set[str]:
        """The keys with stories in a period that has just closed."""
        return self.active.pop(period, set())

    def prune(self, key: str, period: int) -> None:
        """After ``period`` closed: drop what no later window can reach; forget an empty key."""
        bins = self.keys.get(key)
        if bins is None:
            return
        oldest = (period + 1) * self.per_period - self.span_bins
        bins.cached_at = None
        for index in [b for b in bins.by_bin if b < oldest]:
            bins.total.pop(index, None)
            bins.negatives -= bins.negative.pop(index, 0)
            for story in bins.by_bin.pop(index):
                bins.stories.pop(story)
                bins.samples.pop(story, None)
        if len(bins.samples) > 4 * self.sample_count:  # keep the best per recent span only
            ranked = sorted(bins.samples, key=lambda s: (-bins.samples[s].score, s))
            keep = set(ranked[: 4 * self.sample_count])
            bins.samples = {s: a for s, a in bins.samples.items() if s in keep}
        if not bins.total:
            self.keys.pop(key)

    # -- state ---------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """JSON-able state."""
        return {
            "watermark": self.watermark.isoformat(),
            "dropped_late": self.dropped_late,
            "latest": self.latest.isoformat() if self.latest else None,
            "active": {str(p): sorted(keys) for p, keys in self.active.items()},
            "keys": {
                key: {
                    "negative": {str(b): n for b, n in bins.negative.items()},
                    "total": {str(b): n for b, n in bins.total.items()},
                    "stories": bins.stories,
                    "samples": {s: a.model_dump() for s, a in bins.samples.items()},
                }
                for key, bins in self.keys.items()
            },
        }

    def restore(self, state: dict[str, Any]) -> None:
        """Load a snapshot taken by ``snapshot``."""
        self.watermark = datetime.fromisoformat(state["watermark"])
        self._last_at = None  # the next entry moves the restored watermark itself
        self.dropped_late = int(state["dropped_late"])
        latest = state.get("latest")
        self.latest = datetime.fromisoformat(latest) if latest else None
        self.active = {int(p): set(keys) for p, keys in state["active"].items()}
        self.keys = {
            key: KeyBins(
                negative={int(b): int(n) for b, n in data["negative"].items()},
                total={int(b): int(n) for b, n in data["total"].items()},
                stories={s: [int(v[0]), bool(v[1])] for s, v in data["stories"].items()},
                samples={s: AlertSample(**a) for s, a in data["samples"].items()},
            )
            for key, data in state["keys"].items()
        }
        for bins in self.keys.values():
            bins.negatives = sum(bins.negative.values())
            for story, (index, _) in bins.stories.items():
                bins.by_bin.setdefault(index, []).append(story)
