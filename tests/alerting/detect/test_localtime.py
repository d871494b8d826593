"""The rhythm's local clock: offsets in periods, runs across clock changes, profiles on it."""

from datetime import UTC, datetime

import pytest

from alerting.detect.localtime import ZoneOffsets, zone_offsets
from alerting.detect.seasonal import SeasonalProfile, slot_of

W = 900


def period(at: datetime) -> int:
    return int(at.timestamp()) // W


def test_new_york_offsets_change_on_the_minute_the_clocks_do() -> None:
    ny = ZoneOffsets("America/New_York", W)
    spring = period(datetime(2026, 3, 8, 7, tzinfo=UTC))  # 02:00 EST -> 03:00 EDT
    autumn = period(datetime(2026, 11, 1, 6, tzinfo=UTC))  # 02:00 EDT -> 01:00 EST
    assert ny.at(spring - 1) == -20 and ny.at(spring) == -16  # -5 h, -4 h in 15-min periods
    assert ny.at(autumn - 1) == -16 and ny.at(autumn) == -20
    first, until = (
        period(datetime(2026, 1, 1, tzinfo=UTC)),
        period(datetime(2027, 1, 1, tzinfo=UTC)),
    )
    assert ny.segments(first, until) == [
        (first, spring, -20), (spring, autumn, -16), (autumn, until, -20),
    ]  # fmt: skip
    assert zone_offsets("UTC", W) is None
    assert zone_offsets("America/New_York", W) is zone_offsets("America/New_York", W)


def test_an_unknown_zone_or_an_offset_of_part_periods_is_refused() -> None:
    with pytest.raises(ValueError, match="'Mars/Olympus' is not a known timezone"):
        ZoneOffsets("Mars/Olympus", W)
    with pytest.raises(ValueError, match=r"Asia/Kathmandu.*\(345 min\) is not whole periods"):
        ZoneOffsets("Asia/Kathmandu", 1800)
    assert ZoneOffsets("Asia/Kathmandu", W).at(0) == 345 // 15 - 1  # +05:30 in 1970


def test_exposure_on_a_local_clock_counts_each_period_in_its_local_slot() -> None:
    ny = ZoneOffsets("America/New_York", W)
    profile = SeasonalProfile(per_slot=2, slots_per_hour=2, offsets=ny)
    first = period(datetime(2026, 2, 20, 3, tzinfo=UTC))
    profile.observe(first, 1)
    until = period(datetime(2026, 3, 20, tzinfo=UTC))  # across the spring change
    brute = [0.0] * 336
    for p in range(first, until):
        brute[slot_of((p + ny.at(p)) // 2, 2)] += 1.0
    assert profile.exposure(until) == brute
    assert sum(brute) == until - first
    # the open: 09:30 New York is 14:30 UTC before the change and 13:30 UTC after it
    before = period(datetime(2026, 3, 5, 14, 30, tzinfo=UTC))
    after = period(datetime(2026, 3, 12, 13, 30, tzinfo=UTC))
    assert slot_of(profile.occurrence(before)[0], 2) == slot_of(profile.occurrence(after)[0], 2) == (
        3 * 48 + 19)  # Thursday 09:30  # fmt: skip


def test_a_utc_profile_restored_on_new_york_time_moves_with_the_offset() -> None:
    utc = SeasonalProfile(per_slot=2, slots_per_hour=2)
    start = period(datetime(2026, 1, 5, tzinfo=UTC))  # a Monday, winter: New York is -5 h
    for p in range(start, start + 96 * 7):
        utc.observe(p, 10 if p % 96 in (58, 59) else 1)  # 14:30 UTC, Monday to Sunday
    moved = SeasonalProfile.from_json(utc.to_json(), 2, 2, ZoneOffsets("America/New_York", W))
    for s, c in utc.counts.items():
        assert moved.counts[(s - 10) % 336] == c  # 10 half hours earlier: 09:30 local
    assert moved.to_json()["timezone"] == "America/New_York"


def test_the_repeated_hour_of_a_clock_set_back_is_its_own_slot() -> None:
    """A restored profile gives the factors of one that ran on, in the hour seen twice.

    Keyed by its local slot alone, the second pass of 01:00 (New York, 1 November 2026)
    reused the first pass's cached factors and never completed its stories: a profile
    restored there differed by up to 0.18 in a factor.
    """
    ny = ZoneOffsets("America/New_York", W)
    second_pass = period(datetime(2026, 11, 1, 6, tzinfo=UTC))  # 01:00 EST, again
    for slots_per_hour, silent in ((1, ()), (2, range(second_pass - 2, second_pass))):
        per_slot = 4 // slots_per_hour
        running = SeasonalProfile(per_slot, slots_per_hour, offsets=ny)
        for p in range(second_pass - 96 * 3, second_pass + 4):
            if p == second_pass:
                snapshot = running.to_json()
            if p in silent:
                continue
            factors = running.factors(p, None, 2.0)
            if p == second_pass:
                restored = SeasonalProfile.from_json(snapshot, per_slot, slots_per_hour, ny)
                assert list(restored.factors(p, None, 2.0)) == list(factors)
            running.observe(p, 3 + (p % 96) // 8)
        assert sum(running.counts.values()) + running.stories == sum(
            3 + (p % 96) // 8
            for p in range(second_pass - 96 * 3, second_pass + 4)
            if p not in silent
        )


def test_an_hourly_utc_snapshot_moves_to_a_half_hour_zone_by_whole_half_hours() -> None:
    hourly = SeasonalProfile(per_slot=4)
    hourly.counts = {0: 8.0}  # Monday 00:00-01:00 UTC
    hourly.first = period(datetime(2026, 1, 5, tzinfo=UTC))
    data = hourly.to_json()
    kolkata = SeasonalProfile.from_json(data, 2, 2, ZoneOffsets("Asia/Kolkata", W))
    assert kolkata.counts == {11: 4.0, 12: 4.0}  # 05:30-06:30 local (+05:30)
    st_johns = SeasonalProfile.from_json(data, 2, 2, ZoneOffsets("America/St_Johns", W))
    assert st_johns.counts == {329: 4.0, 330: 4.0}  # Sunday 20:30-21:30 local (-03:30)
