"""Statistics on hand-made numbers: every interval checked against its formula."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from kbench import stats


def test_summary_of_samples_in_rounds() -> None:
    samples = [1.0, 1.2, 1.1, 2.0, 2.2, 2.1]
    s = stats.summarize(samples, [0, 0, 0, 1, 1, 1])
    assert s.median == pytest.approx(1.6) and s.n == 6 and s.rounds == 2
    assert s.between_sd_log == pytest.approx(np.std(np.log([1.1, 2.1]), ddof=1))
    assert s.ci_low <= s.median <= s.ci_high
    assert stats.summarize(samples).rounds == 1 and stats.summarize(samples).between_sd_log is None


def test_summary_refuses_nan_and_mismatched_groups() -> None:
    with pytest.raises(ValueError):
        stats.summarize([1.0, float("nan")])
    with pytest.raises(ValueError, match="group labels"):
        stats.group_medians([1.0, 2.0], [0])


def test_group_medians_keep_the_order_of_rounds() -> None:
    assert stats.group_medians([5, 1, 3, 9, 7], [2, 0, 0, 2, 1]).tolist() == [7.0, 2.0, 7.0]


def test_t_interval_on_the_log_scale() -> None:
    values = [2.0, 2.2, 1.9, 2.1]
    est = stats.Estimate.from_values(values)
    logs = np.log(values)
    se = np.std(logs, ddof=1) / 2
    half = sps.t.ppf(0.975, 3) * se
    assert est.value == pytest.approx(math.exp(logs.mean()))
    assert est.low == pytest.approx(math.exp(logs.mean() - half))
    assert est.high == pytest.approx(math.exp(logs.mean() + half))
    assert est.n == 4 and est.df == 3


def test_linear_scale_interval() -> None:
    est = stats.Estimate.from_values([0.5, 0.7], scale="linear")
    half = sps.t.ppf(0.975, 1) * (np.std([0.5, 0.7], ddof=1) / math.sqrt(2))
    assert est.value == pytest.approx(0.6) and est.low == pytest.approx(0.6 - half)


def test_one_value_has_no_interval() -> None:
    est = stats.Estimate.from_values([3.0])
    assert est.value == pytest.approx(3.0) and not est.has_interval and est.n == 1


def test_exact_values_have_a_point_interval() -> None:
    est = stats.Estimate.exact(1.5)
    assert (est.low, est.high) == (1.5, 1.5) and est.has_interval


def test_paired_ratio_is_the_geometric_mean_of_per_pair_ratios() -> None:
    est = stats.paired_log_ratio([4.0, 9.0, 6.0], [2.0, 3.0, 2.0])
    assert est.value == pytest.approx((2 * 3 * 3) ** (1 / 3))
    assert est.low < est.value < est.high
    inverted = stats.paired_log_ratio([2.0, 3.0, 2.0], [4.0, 9.0, 6.0])
    assert inverted.value == pytest.approx(1 / est.value)
    assert inverted.high == pytest.approx(1 / est.low)


def test_unpaired_ratio_uses_welch() -> None:
    a, b = [10.0, 11.0, 12.0], [5.0, 5.0, 5.5, 5.2]
    est = stats.unpaired_log_ratio(a, b)
    la, lb = np.log(a), np.log(b)
    se = math.sqrt(np.var(la, ddof=1) / 3 + np.var(lb, ddof=1) / 4)
    assert est.value == pytest.approx(math.exp(la.mean() - lb.mean()))
    assert est.se == pytest.approx(se)
    assert stats.unpaired_log_ratio([1.0], [2.0, 3.0]).has_interval is False


def test_geomean_combines_cases_with_their_noise() -> None:
    a = stats.Estimate.from_values([4.0, 4.4, 3.6])
    b = stats.Estimate.from_values([9.0, 9.9, 8.1])
    g = stats.geomean([a, b])
    assert g.value == pytest.approx(math.sqrt(a.value * b.value))
    assert g.se == pytest.approx(math.sqrt(a.se**2 + b.se**2) / 2)
    assert g.low < g.value < g.high
    exact = stats.geomean([stats.Estimate.exact(4.0), stats.Estimate.exact(9.0)])
    assert exact.value == pytest.approx(6.0) and exact.low == pytest.approx(6.0)


def test_mean_on_the_linear_scale() -> None:
    m = stats.mean([stats.Estimate.exact(1.0, "linear"), stats.Estimate.exact(3.0, "linear")])
    assert m.value == pytest.approx(2.0)


def test_worst_case_is_conservative_in_the_rule_direction() -> None:
    a = stats.Estimate(2.0, 1.5, 2.5)
    b = stats.Estimate(3.0, 1.0, 4.0)
    low = stats.worst([a, b], lower_is_worse=True)
    assert (low.value, low.low, low.high) == (2.0, 1.0, 2.5)
    high = stats.worst([a, b], lower_is_worse=False)
    assert (high.value, high.low, high.high) == (3.0, 1.5, 4.0)


def test_tests_of_significance() -> None:
    assert stats.welch_p([1.0, 1.01, 0.99], [2.0, 2.02, 1.98]) < 0.001
    assert stats.welch_p([1.0, 1.2, 0.8], [1.0, 1.1, 0.9]) > 0.5
    assert stats.welch_p([1.0], [2.0, 3.0]) == 1.0
    assert stats.paired_p([1.0, 2.0, 3.0], [2.0, 4.1, 5.9]) < 0.01
    assert stats.paired_p([1.0], [2.0]) == 1.0


def test_smallest_mann_whitney_p() -> None:
    assert stats.smallest_mann_whitney_p(5, 3) == pytest.approx(2 / 56)
    assert stats.smallest_mann_whitney_p(5, 5) == pytest.approx(2 / 252)
    separated = stats.mann_whitney_p([1, 2, 3, 4, 5], [6, 7, 8])
    assert separated == pytest.approx(stats.smallest_mann_whitney_p(5, 3))


def test_bootstrap_seeds_differ_per_case() -> None:
    assert stats.seed_for("a", 1) != stats.seed_for("a", 2)
    assert stats.seed_for("a", 1) == stats.seed_for("a", 1)
