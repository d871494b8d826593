"""Upper-tail tests for "more negative stories than expected".

Poisson: the negative count of a window against the baseline's expected count.
Binomial: the negative share of the window's stories against the baseline share (robust when
total volume rises with the negatives, e.g. a busy market day).
"""

from __future__ import annotations

from dataclasses import dataclass

from scipy.stats import binom, poisson


@dataclass(frozen=True)
class TestResult:
    """Evidence of one test: what was seen, what was expected, how surprising."""

    observed: int
    expected: float
    ratio: float
    p_value: float


def poisson_test(observed: int, expected: float) -> TestResult:
    """P(X >= observed) for X ~ Poisson(expected)."""
    expected = max(expected, 1e-9)
    p_value = float(poisson.sf(observed - 1, expected)) if observed > 0 else 1.0
    return TestResult(observed, expected, observed / expected, min(max(p_value, 0.0), 1.0))


def binomial_test(observed: int, total: int, share: float) -> TestResult:
    """P(X >= observed) for X ~ Binomial(total, share): is the negative share unusually high."""
    share = min(max(share, 1e-6), 1 - 1e-6)
    expected = share * total
    p_value = float(binom.sf(observed - 1, total, share)) if observed > 0 else 1.0
    ratio = observed / expected if expected > 0 else 0.0
    return TestResult(observed, expected, ratio, min(max(p_value, 0.0), 1.0))
