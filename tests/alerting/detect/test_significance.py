"""The table of significance tests: the same p-values as before the table, rules name it."""

import pytest

from alerting.detect import significance
from alerting.detect.baseline import Baseline
from alerting.detect.rules import RuleParams, RulesError, parse_rules
from alerting.detect.significance import TESTS, BinomialTest, PoissonTest, WindowCounts

# (observed, expected) -> (expected, ratio, p-value) of the former ``stats.poisson_test``
POISSON = {
    (0, 1.5): (1.5, 0.0, 1.0),
    (5, 1.5): (1.5, 3.3333333333333335, 0.018575936222140675),
    (12, 1.5): (1.5, 8.0, 6.824218029235999e-08),
    (30, 2.0): (2.0, 15.0, 5.855318609378621e-25),
    (3, 1e-12): (1e-09, 3000000000.0, 1.666666665416673e-28),
    (7, 6.5): (6.5, 1.0769230769230769, 0.4734763774820003),
}
# (observed, total, share) -> (expected, ratio, p-value) of the former ``stats.binomial_test``
BINOMIAL = {
    (0, 10, 0.2): (2.0, 0.0, 1.0),
    (6, 10, 0.2): (2.0, 3.0, 0.0063693824000000026),
    (20, 40, 0.1): (4.0, 5.0, 1.8718579354174017e-10),
    (3, 3, 0.0): (3e-06, 1000000.0, 9.999999999999999e-19),
    (5, 5, 1.0): (4.999995, 1.000001000001, 0.9999950000099999),
    (9, 30, 0.15): (4.5, 2.0, 0.02777820717023946),
}


def window(negative: int, total: int, length: float = 1.0) -> WindowCounts:
    return WindowCounts(negative, total, length, exposure=length)


def test_the_table_maps_each_rule_test_to_its_class() -> None:
    assert {"poisson": PoissonTest, "binomial": BinomialTest} == TESTS
    assert PoissonTest.open_windows and not BinomialTest.open_windows


@pytest.mark.parametrize(("case", "want"), POISSON.items())
def test_poisson_gives_the_former_p_values(
    case: tuple[int, float], want: tuple[float, float, float]
) -> None:
    observed, expected = case
    assert PoissonTest.test(observed, expected) == significance.TestResult(observed, *want)


@pytest.mark.parametrize(("case", "want"), BINOMIAL.items())
def test_binomial_gives_the_former_p_values(
    case: tuple[int, int, float], want: tuple[float, float, float]
) -> None:
    observed, total, share = case
    assert BinomialTest.test(observed, total, share) == significance.TestResult(observed, *want)


def test_evaluate_tests_the_window_against_the_baseline() -> None:
    params = RuleParams()
    base = Baseline(negative=1.5, total=10.0, windows=20)
    poisson = PoissonTest().evaluate(params, base, window(12, 14))
    assert poisson == significance.TestResult(12, *POISSON[(12, 1.5)])
    quiet = PoissonTest().evaluate(params, Baseline(0.1, 1.0, 20), window(5, 5))
    assert quiet.expected == params.min_expected, "the expected count is floored"
    binomial = BinomialTest().evaluate(params, Baseline(2.0, 10.0, 20), window(6, 10))
    assert binomial == significance.TestResult(6, *BINOMIAL[(6, 10, 0.2)])
    assert BinomialTest().expected(params, Baseline(2.0, 10.0, 20), window(6, 10)) == 2.0
    hour = PoissonTest().expected(params, base, WindowCounts(12, 14, 4.0, exposure=6.0))
    assert hour == 1.5 * 6.0, "the level times the window's seasonal exposure"
    night = PoissonTest().expected(params, Baseline(0.01, 1.0, 20), WindowCounts(1, 1, 4.0, 0.4))
    assert night == params.min_expected * 4.0, "floored per period of the window's length"


def test_the_smallest_surge_count_joins_min_count_min_ratio_and_alpha() -> None:
    params = RuleParams()  # min_count 5, min_ratio 2.5, alpha 1e-6
    for expected in (0.2, 1.5, 6.0, 40.0):
        count = PoissonTest().surge_count(params, expected)
        assert count is not None
        assert PoissonTest.test(count, expected).p_value < params.alpha
        assert count >= params.min_count and count >= params.min_ratio * expected
        below = PoissonTest.test(count - 1, expected)
        assert count - 1 < params.min_count or count - 1 < params.min_ratio * expected or \
            below.p_value >= params.alpha  # fmt: skip


def test_poisson_fires_at_the_level_of_the_smallest_surge_count() -> None:
    params = RuleParams()  # min_count 5, min_ratio 2.5, alpha 1e-6, ratios 3 / 5 / 8
    result = PoissonTest.test(30, 1.5)
    level = params.severity(result.ratio)
    assert level == 3
    assert PoissonTest().crossing_level(params, result, level) < level
    assert BinomialTest().crossing_level(params, result, level) == level


def test_rules_refuse_an_unknown_test_and_name_the_known_ones() -> None:
    with pytest.raises(RulesError, match=r"rules\.0\.test: .*'chi2'.*poisson, binomial"):
        parse_rules("rules: [{name: a, test: chi2}]", "r.yaml")
    with pytest.raises(RulesError, match="known tests: poisson, binomial"):
        parse_rules("rules: [{name: a, overrides: {topic: {test: chi2}}}]", "r.yaml")
    for name in TESTS:
        rules = parse_rules(f"rules: [{{name: a, test: {name}}}]", "r.yaml")
        assert rules.rules[0].test == name
