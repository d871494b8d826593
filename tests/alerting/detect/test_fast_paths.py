"""The detector's fast paths give exactly what the plain code gave.

The rhythm factors on arrays against the plain-Python estimate they replaced (bit for bit),
the entries built without a second validation against the validating constructor, the
window sums slid forward and back against sums over every bin, and the bound of a key's
negative stories that lets cold keys skip the scan.
"""

import random
from collections.abc import Sequence

import pytest
from pydantic import ValidationError

from alerting.detect.bins import KeyBins
from alerting.detect.keys import checked, keyed_items
from alerting.detect.seasonal import (
    HOURS_PER_WEEK,
    SIDE,
    SeasonalProfile,
    _normalised,
    expand_rhythm,
    slot_of,
)
from finsent.schemas import AlertSample, KeyedItem
from tests.alerting.detect.test_bins import T0, item


def plain_shrunk(
    counts: Sequence[float], exposure: Sequence[float], prior: Sequence[float], floor: float
) -> list[float]:
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


def plain_factors(
    profile: SeasonalProfile, until: int, prior: Sequence[float] | None, prior_periods: float
) -> list[float]:
    """The estimate as it was written before it ran on arrays (one float at a time)."""
    slot = until // profile.per_slot
    size = HOURS_PER_WEEK * profile.slots_per_hour
    per_day = size // 7
    flat = list(prior) if prior is not None else [1.0] * size
    exposure = profile.exposure(slot * profile.per_slot)
    watched = sum(exposure)
    counts = profile.counts
    if watched <= 0 or not counts:
        return _normalised(flat)
    mean = sum(counts.values()) / watched
    tod_counts, tod_exposure, tod_prior = [], [], []
    for of_day in range(per_day):
        slots = range(of_day, size, per_day)
        tod_counts.append(sum(counts.get(s, 0.0) for s in slots))
        tod_exposure.append(sum(exposure[s] for s in slots))
        tod_prior.append(mean * sum(flat[s] for s in slots) / 7)
    tod = plain_shrunk(tod_counts, tod_exposure, tod_prior, 0.0)
    tow = plain_shrunk(
        [counts.get(s, 0.0) for s in range(size)],
        exposure,
        [tod[s % per_day] for s in range(size)],
        prior_periods,
    )
    smooth = [
        SIDE * tow[s - 1] + (1 - 2 * SIDE) * tow[s] + SIDE * tow[(s + 1) % size]
        for s in range(size)
    ]
    return _normalised(smooth)


def plain_exposure(profile: SeasonalProfile, until: int) -> list[float]:
    out = [0.0] * (HOURS_PER_WEEK * profile.slots_per_hour)
    if profile.first is not None:
        for period in range(profile.first, until):
            out[slot_of(period // profile.per_slot, profile.slots_per_hour)] += 1.0
    return out


def test_the_rhythm_factors_on_arrays_are_bit_for_bit_the_plain_ones() -> None:
    rng = random.Random(0)
    compared = 0
    for _ in range(60):
        per_slot, slots_per_hour = rng.choice([(1, 1), (2, 1), (4, 1), (1, 2), (2, 2), (1, 4)])
        profile = SeasonalProfile(per_slot, slots_per_hour)
        prior = (
            None
            if rng.random() < 0.5
            else expand_rhythm([rng.uniform(0.1, 3) for _ in range(24)], slots_per_hour)
        )
        prior_periods = rng.choice([0.5, 2.0, 7.0])
        rate = rng.choice([0.05, 0.5, 3.0, 30.0])
        rhythm = [rng.uniform(0.1, 3) for _ in range(24)]
        period = rng.randint(0, 5000)
        for _ in range(rng.randint(1, 900)):
            period += 1 if rng.random() < 0.8 else rng.randint(1, 300)
            profile.observe(period, int(rng.expovariate(1 / (rate * rhythm[period % 24]))))
            if rng.random() < 0.1:
                until = period + rng.randint(0, 8)
                got = profile.factors(until, prior, prior_periods)  # completes a past slot
                assert list(got) == plain_factors(profile, until, prior, prior_periods)
                assert profile.exposure(until) == plain_exposure(profile, until)
                compared += 1
    assert compared > 1000


def test_entries_built_without_validation_equal_validated_ones() -> None:
    scored = [item(1, T0, tickers=("AAPL", "MSFT")), item(2, T0, negative=False, story="x")]
    for entry in [e for i in scored for e in keyed_items(i, origin=3)]:
        values = entry.model_dump(exclude={"schema_version"})
        validated = KeyedItem(**values)
        assert entry == validated
        assert entry.model_fields_set == validated.model_fields_set
        assert entry.model_dump_json() == validated.model_dump_json()
    sample = checked(AlertSample, {"id": "a", "title": "t", "url": None, "score": 0.5})
    assert sample == AlertSample(id="a", title="t", url=None, score=0.5)


def test_an_entry_the_schema_refuses_still_raises() -> None:
    with pytest.raises(ValidationError):
        keyed_items(item(1, T0, tickers=("",)))  # "ticker:" does not match the key pattern


def test_window_sums_slid_forward_and_back_equal_sums_over_every_bin() -> None:
    rng = random.Random(2)
    lengths = (5, 15, 30, 60, 240)
    bins = KeyBins()
    for b in rng.sample(range(1000, 1400), 150):
        bins.total[b] = rng.randint(1, 4)
        negative = rng.randint(0, bins.total[b])
        if negative:
            bins.negative[b] = negative
    for _ in range(400):
        last = rng.randint(1000, 1450)
        got = bins.windows(last, lengths)
        for (negative, total), length in zip(got, lengths, strict=True):
            inside = range(last - length + 1, last + 1)
            assert negative == sum(bins.negative.get(b, 0) for b in inside)
            assert total == sum(bins.total.get(b, 0) for b in inside)
