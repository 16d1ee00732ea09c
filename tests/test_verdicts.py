"""Verdict rules on hand-made estimates."""

from __future__ import annotations

import math

import pytest

from kbench import verdicts
from kbench.stats import Estimate, power
from kbench.verdicts import Rule


@pytest.mark.parametrize(("rule", "interval", "expected"), [
    (Rule(at_least=10), (12.0, 15.0), "reproduced"),
    (Rule(at_least=10), (10.0, 15.0), "reproduced"),  # a bound is inclusive
    (Rule(at_least=10), (5.0, 8.0), "not-reproduced"),
    (Rule(at_least=10), (8.0, 12.0), "inconclusive"),
    (Rule(at_most=1e-6), (1e-7, 5e-7), "reproduced"),
    (Rule(at_most=1e-6), (2e-6, 3e-6), "not-reproduced"),
    (Rule(at_most=1e-6), (5e-7, 2e-6), "inconclusive"),
    (Rule(at_least=0.95, at_most=1.05), (1.0, 1.02), "reproduced"),
    (Rule(at_least=0.95, at_most=1.05), (1.04, 1.07), "inconclusive"),
    (Rule(at_least=0.95, at_most=1.05), (1.06, 1.07), "not-reproduced"),
    (Rule(at_least=0.95, at_most=1.05), (0.90, 0.94), "not-reproduced"),
    (Rule(at_most=1.0), (0.5, 1.0), "reproduced"),  # inclusive at the top too
    (Rule(at_least=10), (8.0, 10.0), "inconclusive"),  # reaching the bound from below is not wholly outside
    (Rule(at_most=1.0), (1.0, 2.0), "inconclusive"),  # nor is leaving it from the bound
])
def test_verdict_rules(rule: Rule, interval: tuple[float, float], expected: str) -> None:
    est = Estimate(sum(interval) / 2, *interval)
    verdict, reason = verdicts.decide(rule, est)
    assert verdict == expected
    assert (reason is None) == (expected == "reproduced")


def test_no_interval_is_never_more_than_inconclusive() -> None:
    verdict, reason = verdicts.decide(Rule(at_least=1), Estimate(100.0, None, None, n=1))
    assert verdict == "inconclusive" and "1 independent round" in (reason or "")
    assert "round(s) or seed(s), so the run-to-run noise was not measured (rule >= 1)" in (reason or "")
    # a rule relative to the paper is stated with the bound it came to for this case
    _, relative = verdicts.decide(Rule(at_least=0.5, of_paper=True), Estimate(100.0, None, None, n=1), 86.5)
    assert (relative or "").endswith("(rule >= 43.25 (0.5 x paper))")


@pytest.mark.parametrize("interval", [(-math.inf, 2.0), (1.0, math.inf), (math.nan, 2.0), (1.0, math.nan),
                                      (-math.inf, math.inf)])
def test_a_non_finite_interval_is_inconclusive_and_says_so(interval: tuple[float, float]) -> None:
    """Either end not finite is enough (a NaN compares false both ways, so bounds alone would pass it)."""
    est = Estimate(1.5, interval[0], interval[1], "linear", 0.1, 4.0, 5)
    verdict, reason = verdicts.decide(Rule(at_least=1.0), est)
    assert verdict == "inconclusive" and verdict in verdicts.SEVERITY
    assert reason == f"the interval [{interval[0]}, {interval[1]}] is not finite"


def test_rules_relative_to_the_paper() -> None:
    rule = Rule(at_least=0.5, of_paper=True)
    assert rule.bounds(86.5) == (43.25, None)
    assert rule.describe(86.5) == ">= 43.25 (0.5 x paper)"
    assert verdicts.decide(rule, Estimate(50, 45, 55), 86.5)[0] == "reproduced"
    assert verdicts.decide(rule, Estimate(42, 41, 43), 86.5)[0] == "not-reproduced"
    verdict, reason = verdicts.decide(rule, Estimate(50, 45, 55), None)
    assert verdict == "inconclusive" and (reason or "").startswith("the rule is relative to the paper's value")
    assert Rule(at_most=2.0, of_paper=True).bounds(3.0) == (None, 6.0)


def test_rule_round_trips_as_data() -> None:
    rule = Rule(at_least=0.5, at_most=None, of_paper=True)
    data = rule.as_dict(10.0)
    assert data == {"at_least": 0.5, "at_most": None, "of_paper": True, "text": ">= 5 (0.5 x paper)"}
    assert Rule.from_dict(data) == rule
    upper = Rule(at_least=None, at_most=2.0, of_paper=False)
    assert Rule.from_dict(upper.as_dict(None)) == upper and Rule.from_dict({"at_most": 1.0}) == Rule(at_most=1.0)


def test_rule_direction() -> None:
    assert Rule(at_least=1).lower_is_worse is True
    assert Rule(at_most=1).lower_is_worse is False
    assert Rule(at_least=1, at_most=2).lower_is_worse is None


def test_worst_verdict_and_ratio() -> None:
    assert verdicts.worst_verdict(["reproduced", "inconclusive", "not-reproduced"]) == "not-reproduced"
    assert verdicts.worst_verdict(["reproduced", "error"]) == "error"
    assert verdicts.ratio_to_paper(43.25, 86.5) == pytest.approx(0.5)
    assert verdicts.ratio_to_paper(1.0, None) is None and verdicts.ratio_to_paper(1.0, 0) is None


def test_a_rule_describes_both_bounds_and_either_alone() -> None:
    assert Rule(at_least=0.95, at_most=1.05).describe() == ">= 0.95 and <= 1.05"
    assert Rule(at_most=2).describe() == "<= 2" and Rule(at_least=3).describe() == ">= 3"


def test_a_verdict_outside_the_rule_names_the_bound_it_came_to() -> None:
    verdict, reason = verdicts.decide(Rule(at_least=0.5, of_paper=True), Estimate(40, 38, 42), 86.5)
    assert verdict == "not-reproduced"
    assert reason == "95% interval [38, 42] lies outside the rule >= 43.25 (0.5 x paper)"


def test_a_straddling_interval_says_what_its_values_could_detect_about_the_nearest_bound() -> None:
    """The power statement is about the bound nearest the estimate (a two-sided band: the upper one
    here), and appears only where a bound lies strictly inside the interval."""
    est = Estimate(1.9, 0.5, 2.5, "linear", 0.4, 4.0, 5)
    verdict, reason = verdicts.decide(Rule(at_least=1.0, at_most=2.0), est)
    assert verdict == "inconclusive"
    assert reason == f"95% interval [0.5, 2.5] straddles the rule >= 1 and <= 2 ({power(est, 2.0).describe()})"
    assert power(est, 2.0).describe() != power(est, 1.0).describe()
    for rule, interval in ((Rule(at_least=10), (8.0, 10.0)), (Rule(at_most=10), (10.0, 12.0))):
        _, edge = verdicts.decide(rule, Estimate(sum(interval) / 2, *interval, "linear", 0.4, 4.0, 5))
        assert edge == f"95% interval [{interval[0]:g}, {interval[1]:g}] straddles the rule {rule.describe()}"
