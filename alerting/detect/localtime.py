"""A timezone's offset from UTC in whole periods, at any period: the rhythm's local clock.

A key's weekly rhythm follows the clock of the market its news follows: New York's open is
09:30 local all year, 14:30 UTC in winter and 13:30 UTC in summer. The profile counts stories
by local slot (``alerting.rhythm_timezone``), so a daylight-saving change moves nothing.

Offsets are looked up by blocks of about a year: a block's offset at its start and the
periods inside it where the offset changes (found by sampling every day and bisecting within
the day of a change), computed once per block. An offset must be whole periods (every real
zone is whole quarter hours, so 15-min periods always are).
"""

from __future__ import annotations

from bisect import bisect_right
from datetime import UTC, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

BLOCK_DAYS = 366


class ZoneOffsets:
    """UTC offsets of one timezone, in periods of ``window_s``, at UTC period indexes."""

    def __init__(self, timezone: str, window_s: int) -> None:
        try:
            self.zone = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"rhythm_timezone {timezone!r} is not a known timezone") from exc
        self.name = timezone
        self.window_s = window_s
        self.per_day = 86400 // window_s
        self.block = BLOCK_DAYS * self.per_day
        self._blocks: dict[int, tuple[list[int], list[int]]] = {}  # changes, offsets
        self._last = (0, 0, 0)  # the run (start, end, offset) of the latest lookup
        self._block_of(int(datetime.now(UTC).timestamp()) // window_s)  # fail at start

    def _offset(self, period: int) -> int:
        at = datetime.fromtimestamp(period * self.window_s, UTC).astimezone(self.zone)
        seconds = int(at.utcoffset().total_seconds())  # type: ignore[union-attr]
        if seconds % self.window_s:
            raise ValueError(
                f"rhythm_timezone {self.name!r}: its UTC offset at {at:%Y-%m-%d %H:%M} "
                f"({seconds // 60} min) is not whole periods of {self.window_s} s"
            )
        return seconds // self.window_s

    def _block_of(self, period: int) -> tuple[list[int], list[int]]:
        index = period // self.block
        found = self._blocks.get(index)
        if found is None:
            start = index * self.block
            starts, offsets = [start], [self._offset(start)]
            for day in range(start + self.per_day, start + self.block + 1, self.per_day):
                offset = self._offset(min(day, start + self.block - 1))
                if offset == offsets[-1]:
                    continue
                low, high = day - self.per_day, min(day, start + self.block - 1)
                while high - low > 1:  # the first period with the new offset
                    middle = (low + high) // 2
                    low, high = (middle, high) if self._offset(middle) == offsets[-1] else (
                        low, middle)  # fmt: skip
                starts.append(high)
                offsets.append(offset)
            found = self._blocks[index] = (starts, offsets)
        return found

    def at(self, period: int) -> int:
        """The offset, in periods, at UTC period ``period`` (local = UTC + offset)."""
        return self.run(period)[2]

    def run(self, period: int) -> tuple[int, int, int]:
        """The run ``(start, end, offset)`` of one offset that holds ``period``.

        A run may end early at a block's edge (the next one goes on with the same offset).
        """
        last = self._last
        if last[0] <= period < last[1]:  # most lookups fall in the run of the one before
            return last
        starts, offsets = self._block_of(period)
        i = bisect_right(starts, period) - 1
        block_end = (period // self.block + 1) * self.block
        self._last = (starts[i], starts[i + 1] if i + 1 < len(starts) else block_end, offsets[i])
        return self._last

    def segments(self, first: int, until: int) -> list[tuple[int, int, int]]:
        """``[first, until)`` as runs ``(start, end, offset)`` of one offset each."""
        runs: list[tuple[int, int, int]] = []
        period = first
        while period < until:
            _, end, offset = self.run(period)
            end = min(end, until)
            if runs and runs[-1][2] == offset:  # a block's edge, not a change
                runs[-1] = (runs[-1][0], end, offset)
            else:
                runs.append((period, end, offset))
            period = end
        return runs


@lru_cache(maxsize=16)
def zone_offsets(timezone: str, window_s: int) -> ZoneOffsets | None:
    """The shared offsets of a timezone (None for UTC: no offset to look up)."""
    return None if timezone == "UTC" else ZoneOffsets(timezone, window_s)
