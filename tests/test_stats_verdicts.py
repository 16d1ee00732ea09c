"""Statistics and verdict rules on hand-made measurements."""

from __future__ import annotations

import numpy as np
import pytest

from kbench import stats, verdicts
from kbench.suite import PassRule


def test_summary_interval_brackets_the_median() -> None:
    rng = np.random.default_rng(0)
    s = stats.summarize(rng.normal(10.0, 1.0, 200))
    assert s.ci_low < s.median < s.ci_high
    assert 9.5 < s.median < 10.5 and s.n == 200
    assert s.ci_high - s.ci_low < 1.0


def test_summary_refuses_nan() -> None:
    with pytest.raises(ValueError):
        stats.summarize([1.0, float("nan")])


def test_ratio_draws_center_on_the_ratio_of_medians() -> None:
    rng = np.random.default_rng(1)
    slow, fast = rng.normal(100.0, 2.0, 50), rng.normal(10.0, 0.2, 50)
    lo, hi = stats.interval(stats.ratio_draws(slow, fast))
    assert lo < 10.0 < hi and hi - lo < 1.0


def test_geomean_of_cases() -> None:
    draws = [np.full(100, 4.0), np.full(100, 9.0)]
    est = stats.geomean_estimate([4.0, 9.0], draws)
    assert est.value == pytest.approx(6.0) and est.low == pytest.approx(6.0)


@pytest.mark.parametrize(("rule", "interval", "expected"), [
    (PassRule(at_least=10), (12.0, 15.0), "reproduced"),
    (PassRule(at_least=10), (5.0, 8.0), "not-reproduced"),
    (PassRule(at_least=10), (8.0, 12.0), "inconclusive"),  # the interval straddles the rule
    (PassRule(at_most=1e-6), (1e-7, 5e-7), "reproduced"),
    (PassRule(at_most=1e-6), (2e-6, 3e-6), "not-reproduced"),
    (PassRule(at_least=0.95, at_most=1.05), (1.0, 1.02), "reproduced"),
    (PassRule(at_least=0.95, at_most=1.05), (1.04, 1.07), "inconclusive"),
    (PassRule(at_least=0.95, at_most=1.05), (1.06, 1.07), "not-reproduced"),
])
def test_verdict_rules(rule: PassRule, interval: tuple[float, float], expected: str) -> None:
    est = stats.Estimate(sum(interval) / 2, *interval)
    verdict, reason = verdicts.decide(rule, est)
    assert verdict == expected
    assert (reason is None) == (expected == "reproduced")


def test_ratio_to_paper() -> None:
    assert verdicts.ratio_to_paper(43.25, 86.5) == pytest.approx(0.5)
    assert verdicts.ratio_to_paper(1.0, None) is None
