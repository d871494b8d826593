"""False alarms of a rule's scan on stationary traffic, by simulation: how to set ``alpha``.

A rule tests several window lengths at every bin that receives a story, for every key, all
the time: the p-value threshold of one test (``alpha``) is not the false-alarm rate. This
module simulates what the detector does on traffic with no surge at all: Poisson negative
stories per key at a fixed rate, counted in bins, the level an EWMA of the period counts
(running mean first, as ``Baseline``), every window length tested at every filled bin with
``min_count``, ``min_ratio`` and the ``min_expected`` floor, warm-up respected. A false
alarm is a period with a surge that is not within the cooldown of the previous one (the
detector's incidents). Vectorised with numpy: a hundred key-weeks take seconds.

It leaves out what only helps or hardly matters on stationary traffic (the clipping of
surges out of the baseline, de-duplication, the rhythm: flat here); the detector's own
tests check it on generated traffic with and without a rhythm (tests/alerting/detect).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import poisson

from alerting.detect.rules import RuleParams

WEEK_S = 7 * 86400
CHUNK_KEYS = 25


@dataclass(frozen=True)
class Calibration:
    """False alarms per 100 key-weeks at each rate, for each alpha."""

    rates: tuple[float, ...]  # negative stories per period
    alphas: tuple[float, ...]
    key_weeks: float  # simulated per rate
    per_100_key_weeks: dict[float, dict[float, float]]  # alpha -> rate -> false alarms

    def worst(self, alpha: float) -> float:
        """The highest rate of false alarms over the rates, at this alpha."""
        return max(self.per_100_key_weeks[alpha].values())

    def largest_alpha(self, target: float) -> float | None:
        """The largest alpha whose worst rate is at most ``target`` per 100 key-weeks."""
        good = [a for a in self.alphas if self.worst(a) <= target]
        return max(good) if good else None


def min_p_per_period(
    params: RuleParams, rate: float, keys: int, weeks: float, bin_s: int, period_s: int,
    seed: int,
) -> np.ndarray:  # fmt: skip
    """The smallest p-value of any surge candidate per (key, period); 1 where none."""
    rng = np.random.default_rng(seed)
    per = period_s // bin_s
    periods = int(weeks * WEEK_S // period_s)
    counts = rng.poisson(rate / per, size=(keys, periods * per)).astype(np.int32)
    by_period = counts.reshape(keys, periods, per).sum(axis=2).astype(np.float64)
    level = np.zeros((keys, periods))  # level before period p (folded through p - 1)
    weight = 1.0 - 0.5 ** (1.0 / params.halflife_windows)
    current = np.zeros(keys)
    for p in range(1, periods):
        step = max(weight, 1.0 / p)
        current = current + step * (by_period[:, p - 1] - current)
        level[:, p] = current
    cumulative = np.concatenate([np.zeros((keys, 1), np.int64), counts.cumsum(axis=1)], axis=1)
    best = np.ones((keys, periods))
    filled = counts > 0
    period_of = np.arange(periods * per) // per
    warm = period_of >= params.warmup_windows
    for length_s in params.windows_s:
        length = length_s // bin_s
        ends = np.arange(periods * per)
        starts = np.maximum(ends - length + 1, 0)
        window = cumulative[:, ends + 1] - cumulative[:, starts]
        expected = np.maximum(
            level[:, period_of] * length / per, params.min_expected * length / per
        )
        mask = (
            filled & warm & (window >= params.min_count) & (window >= params.min_ratio * expected)
        )
        k, b = np.nonzero(mask)
        if k.size == 0:
            continue
        p_values = poisson.sf(window[k, b] - 1, expected[k, b])
        np.minimum.at(best, (k, period_of[b]), p_values)
    return best


def incidents(best: np.ndarray, alpha: float, cooldown_periods: int) -> int:
    """Periods with a surge, not within the cooldown of the previous incident of the key."""
    count = 0
    for row in best:
        last = -(10**9)
        for period in np.nonzero(row < alpha)[0].tolist():
            if period > last + cooldown_periods:
                count += 1
            last = period
    return count


def calibrate(
    params: RuleParams,
    rates: Sequence[float] = (0.5, 1.0, 2.5, 5.0, 10.0),
    alphas: Sequence[float] = (1e-4, 3e-5, 1e-5, 3e-6, 1e-6, 3e-7, 1e-7, 3e-8, 1e-8),
    keys: int = 50,
    weeks: float = 4.0,
    bin_s: int = 60,
    period_s: int = 900,
    seed: int = 0,
) -> Calibration:
    """False alarms per 100 key-weeks of stationary traffic, per alpha and rate."""
    cooldown = 1 + params.resolve_after_windows + params.cooldown_s // period_s
    table: dict[float, dict[float, float]] = {a: {} for a in alphas}
    for n, rate in enumerate(rates):
        found = dict.fromkeys(alphas, 0)
        for chunk in range(0, keys, CHUNK_KEYS):  # bounded memory: some keys at a time
            size = min(CHUNK_KEYS, keys - chunk)
            best = min_p_per_period(
                params, rate, size, weeks, bin_s, period_s, seed + 1000 * n + chunk
            )
            for alpha in alphas:
                found[alpha] += incidents(best, alpha, cooldown)
        for alpha in alphas:
            table[alpha][rate] = 100.0 * found[alpha] / (keys * weeks)
    return Calibration(tuple(rates), tuple(alphas), keys * weeks, table)
