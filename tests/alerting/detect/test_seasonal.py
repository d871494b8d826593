"""The rhythm's slot length: defaults, validation, and snapshots of another slot length."""

import pytest

from alerting.detect.seasonal import SeasonalProfile, expand_rhythm, slot_of, slot_seconds


def test_the_default_slot_is_half_an_hour_where_periods_allow_it() -> None:
    assert [slot_seconds(w) for w in (300, 600, 900, 1200, 1800, 3600)] == [
        1800, 1800, 1800, 3600, 1800, 3600,
    ]  # fmt: skip
    assert slot_seconds(900, 3600) == 3600
    with pytest.raises(ValueError, match=r"rhythm_slot_s \(1200\) must be a multiple"):
        slot_seconds(900, 1200)
    with pytest.raises(ValueError, match="divide an hour"):
        slot_seconds(900, 2700)


def test_slots_of_the_week_start_on_monday() -> None:
    # epoch hour 0 is Thursday 00:00 UTC: hour 72 of its week, slot 144 in half hours
    assert slot_of(0) == 72 and slot_of(0, 2) == 144
    assert slot_of(96) == 0 and slot_of(192, 2) == 0  # the Monday after, 00:00
    assert slot_of(193, 2) == 1  # 00:30


def test_a_rule_rhythm_of_hours_fills_every_slot_of_its_hour() -> None:
    hourly = [1.0] * 24
    hourly[9] = 3.0
    halves = expand_rhythm(hourly, 2)
    assert len(halves) == 336
    assert halves[18] == halves[19] == expand_rhythm(hourly)[9] > 2.5
    assert halves[20] == expand_rhythm(hourly)[10]


def test_an_hourly_snapshot_is_rebinned_into_half_hours_keeping_every_story() -> None:
    hourly = SeasonalProfile(per_slot=4)  # 15-min periods, hour slots
    for period in range(4 * 24 * 3):  # three days, the open hour busy
        hourly.observe(period, 12 if (period // 4) % 24 == 9 else 2)
    data = hourly.to_json()
    data["hour"] = data.pop("slot")  # the form before slots had a length
    del data["slots_per_hour"]
    halves = SeasonalProfile.from_json(data, per_slot=2, slots_per_hour=2)
    assert sum(halves.counts.values()) == pytest.approx(sum(hourly.counts.values()))
    for slot, stories in hourly.counts.items():
        assert halves.counts[2 * slot] == halves.counts[2 * slot + 1] == stories / 2
    assert halves.slot == 2 * hourly.slot and halves.stories == hourly.stories  # type: ignore[operator]
    back = SeasonalProfile.from_json(halves.to_json(), per_slot=4, slots_per_hour=1)
    assert back.counts == pytest.approx(hourly.counts) and back.slot == hourly.slot
    until = 4 * 24 * 3  # the next period: Sunday 00:00 (period 0 is Thursday 00:00)
    old, new = hourly.factors(until, None, 2.0), halves.factors(until, None, 2.0)
    opening = slot_of(9)  # Thursday 09:00, hour slots
    assert slot_of(18, 2) == 2 * opening
    assert old[opening] > 3 and new[2 * opening] > 3 and new[2 * opening + 1] > 3
