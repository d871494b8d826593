"""Upper-tail tests for "more negative stories than expected", one class per rule ``test:``.

Poisson: the negative count of a window against the baseline's expected count for it (the
key's level times the window's seasonal exposure).
Binomial: the negative share of the window's stories against the baseline share (robust when
total volume rises with the negatives, e.g. a busy market day).

The detector looks a rule's test up in ``TESTS``; rules validation accepts exactly its names.
A test says what count it expects, how surprising the observed one is, whether it may judge a
window that is still filling, and the severity at which an incident fires.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, Protocol

from scipy.stats import binom, poisson

from alerting.detect.baseline import Baseline


@dataclass(frozen=True)
class WindowCounts:
    """One scan window of one key: its stories, its length and its seasonal exposure.

    ``length`` and ``exposure`` are in periods: a 60-min window is 4 periods of 15 min long,
    and its exposure is the sum of its bins' rhythm factors over the bins per period (4.0
    at an average hour, less at night, more at the market open).
    """

    negative: int
    total: int
    length: float
    exposure: float


@dataclass(frozen=True)
class TestResult:
    """Evidence of one test: what was seen, what was expected, how surprising."""

    observed: int
    expected: float
    ratio: float
    p_value: float


class SurgeParams(Protocol):
    """The rule parameters a test reads (``RuleParams`` has them)."""

    @property
    def min_count(self) -> int:
        """Fewest negative stories in a window to fire."""
        ...

    @property
    def min_ratio(self) -> float:
        """Observed / expected at least this."""
        ...

    @property
    def alpha(self) -> float:
        """Fire when the p-value is below this."""
        ...

    @property
    def min_expected(self) -> float:
        """Floor of the expected negative count per period."""
        ...

    def severity(self, ratio: float) -> int:
        """Severity level of a ratio."""
        ...


class SurgeTest(Protocol):
    """One statistical test of a window's negative count against a key's baseline."""

    open_windows: ClassVar[bool]
    """Whether a window may be tested while it fills (the statistic only grows with items)."""

    def expected(self, params: SurgeParams, base: Baseline, window: WindowCounts) -> float:
        """The negative count the baseline predicts for this window (cheap: no p-value)."""
        ...

    def evaluate(self, params: SurgeParams, base: Baseline, window: WindowCounts) -> TestResult:
        """The full test, p-value included."""
        ...

    def surge_count(self, params: SurgeParams, expected: float) -> int | None:
        """The smallest count that is a surge against ``expected`` (None: not computable)."""
        ...

    def crossing_level(self, params: SurgeParams, result: TestResult, level: int) -> int:
        """Severity of the firing event, given the result that made it a surge."""
        ...


class PoissonTest:
    """Negative count ~ Poisson(expected), expected = the baseline's mean negative count."""

    open_windows: ClassVar[bool] = True

    @staticmethod
    def test(observed: int, expected: float) -> TestResult:
        """P(X >= observed) for X ~ Poisson(expected)."""
        expected = max(expected, 1e-9)
        p_value = float(poisson.sf(observed - 1, expected)) if observed > 0 else 1.0
        return TestResult(observed, expected, observed / expected, min(max(p_value, 0.0), 1.0))

    def expected(self, params: SurgeParams, base: Baseline, window: WindowCounts) -> float:
        """The level times the window's exposure, floored at ``min_expected`` per period."""
        return max(base.negative * window.exposure, params.min_expected * window.length)

    def evaluate(self, params: SurgeParams, base: Baseline, window: WindowCounts) -> TestResult:
        """Poisson upper tail of the window's negative count."""
        return self.test(window.negative, self.expected(params, base, window))

    def surge_count(self, params: SurgeParams, expected: float) -> int | None:
        """``min_count``, ``min_ratio`` and the p-value threshold, all at once."""
        count = max(params.min_count, math.ceil(params.min_ratio * expected - 1e-9))
        return max(count, int(poisson.isf(params.alpha, expected)) + 1)

    def crossing_level(self, params: SurgeParams, result: TestResult, level: int) -> int:
        """Severity at the smallest count that is a surge.

        For Poisson that count depends on the baseline alone, so the firing event is the
        same however late it is seen.
        """
        count = self.surge_count(params, result.expected) or result.observed
        return min(level, params.severity(min(count, result.observed) / result.expected))


class BinomialTest:
    """Negative stories ~ Binomial(window total, baseline negative share)."""

    open_windows: ClassVar[bool] = False  # a share is not monotone as items arrive

    @staticmethod
    def test(observed: int, total: int, share: float) -> TestResult:
        """P(X >= observed) for X ~ Binomial(total, share): is the negative share unusually high."""
        share = min(max(share, 1e-6), 1 - 1e-6)
        expected = share * total
        p_value = float(binom.sf(observed - 1, total, share)) if observed > 0 else 1.0
        ratio = observed / expected if expected > 0 else 0.0
        return TestResult(observed, expected, ratio, min(max(p_value, 0.0), 1.0))

    @staticmethod
    def share(params: SurgeParams, base: Baseline, window: WindowCounts) -> float:
        """The baseline's negative share, floored so that it expects ``min_expected``."""
        share = base.negative / base.total if base.total > 0 else 0.0
        return max(share, params.min_expected * window.length / max(window.total, 1))

    def expected(self, params: SurgeParams, base: Baseline, window: WindowCounts) -> float:
        """The baseline share of the window's stories."""
        return self.share(params, base, window) * window.total

    def evaluate(self, params: SurgeParams, base: Baseline, window: WindowCounts) -> TestResult:
        """Binomial upper tail of the window's negative stories among all its stories."""
        return self.test(window.negative, window.total, self.share(params, base, window))

    def surge_count(self, params: SurgeParams, expected: float) -> int | None:
        """Depends on the window's total too: not known from the expectation alone."""
        return None

    def crossing_level(self, params: SurgeParams, result: TestResult, level: int) -> int:
        """The level seen: only closed windows are tested, so it cannot depend on timing."""
        return level


TESTS: dict[str, type[SurgeTest]] = {"poisson": PoissonTest, "binomial": BinomialTest}
