"""Statistics on hand-made numbers: every interval checked against its formula."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats as sps

from kbench import stats, timing, verdicts
from kbench.verdicts import Rule


def test_summary_of_samples_in_rounds() -> None:
    samples = [1.0, 1.2, 1.1, 2.0, 2.2, 2.1]
    s = stats.summarize(samples, [0, 0, 0, 1, 1, 1])
    assert s.median == pytest.approx(1.6) and s.n == 6 and s.rounds == 2
    assert s.between_sd_log == pytest.approx(np.std(np.log([1.1, 2.1]), ddof=1))
    assert (s.ci_low, s.ci_high) == (1.0, 2.2)  # 6 samples: the whole range
    assert (s.q1, s.q3, s.mean) == pytest.approx((1.125, 2.075, 1.6))
    assert stats.summarize(samples).rounds == 1 and stats.summarize(samples).between_sd_log is None
    assert stats.summarize([1.0, -1.0], [0, 1]).between_sd_log is None  # no log of a negative value
    assert stats.summarize([2.0, 2.0], [0, 0]).rounds == 1


def test_summary_refuses_nan_and_mismatched_groups() -> None:
    for bad in ([1.0, float("nan")], [1.0, float("inf")], [], [[1.0, 2.0]]):
        with pytest.raises(ValueError):
            stats.summarize(bad)
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
    assert est.se is None and est.df is None and est.low is None and est.high is None
    half = stats.Estimate(3.0, 2.0, None)
    assert not half.has_interval
    with pytest.raises(ValueError, match="positive"):
        stats.Estimate.from_values([1.0, -1.0])
    with pytest.raises(ValueError):
        stats.Estimate.from_values([])


def test_exact_values_have_a_point_interval() -> None:
    est = stats.Estimate.exact(1.5, "linear", n=4)
    assert (est.value, est.low, est.high, est.scale, est.se, est.df, est.n) == (1.5, 1.5, 1.5, "linear", 0.0, None, 4)
    assert est.has_interval and stats.Estimate.exact(2.0).scale == "log" and stats.Estimate.exact(2.0).n == 1


def test_paired_ratio_is_the_geometric_mean_of_per_pair_ratios() -> None:
    est = stats.paired_log_ratio([4.0, 9.0, 6.0], [2.0, 3.0, 2.0])
    assert est.value == pytest.approx((2 * 3 * 3) ** (1 / 3))
    assert est.low < est.value < est.high
    inverted = stats.paired_log_ratio([2.0, 3.0, 2.0], [4.0, 9.0, 6.0])
    assert inverted.value == pytest.approx(1 / est.value)
    assert inverted.high == pytest.approx(1 / est.low)
    assert est.n == 3 and est.df == 2 and est.scale == "log"
    with pytest.raises(ValueError, match="paired"):
        stats.paired_log_ratio([1.0, 2.0], [1.0])


def test_unpaired_ratio_uses_welch() -> None:
    a, b = [10.0, 11.0, 12.0], [5.0, 5.0, 5.5, 5.2]
    est = stats.unpaired_log_ratio(a, b)
    la, lb = np.log(a), np.log(b)
    se = math.sqrt(np.var(la, ddof=1) / 3 + np.var(lb, ddof=1) / 4)
    assert est.value == pytest.approx(math.exp(la.mean() - lb.mean()))
    assert est.se == pytest.approx(se)
    lone = stats.unpaired_log_ratio([1.0], [2.0, 3.0])
    assert lone.has_interval is False and lone.value == pytest.approx(1 / math.sqrt(6)) and lone.n == 1
    assert lone.scale == "log" and lone.se is None


def test_median_interval_is_distribution_free() -> None:
    values = np.arange(1.0, 101.0)  # ranks 40 and 61 (1-based) for n = 100 at 95%
    assert stats.median_interval(values) == (40.0, 61.0)
    assert stats.median_interval(values[::-1]) == (40.0, 61.0)  # order does not matter
    assert stats.median_interval([1.0, 2.0, 3.0]) == (1.0, 3.0)  # too few: the whole range
    assert stats.median_interval([5.0]) == (5.0, 5.0)
    lo, hi = stats.median_interval(np.arange(2_000_000, dtype=float))  # no resampling: any size
    assert lo < 1_000_000 < hi and hi - lo < 3000
    assert stats.median_interval(values, confidence=0.5) == (47.0, 54.0)


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
    m = stats.mean([stats.Estimate.exact(1.0, "linear", n=3), stats.Estimate.exact(-3.0, "linear", n=5)])
    assert m.value == pytest.approx(-1.0) and m.scale == "linear" and m.n == 3 and m.low == pytest.approx(-1.0)
    a = stats.Estimate.from_values([0.5, 0.7, 0.6], "linear")
    noisy = stats.mean([a, stats.Estimate.exact(1.0, "linear")])
    assert noisy.se == pytest.approx(a.se / 2) and noisy.df == pytest.approx(2.0)
    partial = stats.mean([stats.Estimate.from_values([0.5], "linear"), a])
    assert not partial.has_interval and partial.n == 1 and partial.scale == "linear"
    with pytest.raises(ValueError, match="positive"):
        stats.geomean([stats.Estimate.exact(1.0), stats.Estimate.exact(0.0)])
    with pytest.raises(ValueError):
        stats.mean([])


def test_worst_case_is_conservative_in_the_rule_direction() -> None:
    a = stats.Estimate(2.0, 1.5, 2.5, "linear", 0.2, 4.0, 5)
    b = stats.Estimate(3.0, 1.0, 4.0, "linear", 0.4, 2.0, 3)
    low = stats.worst([a, b], lower_is_worse=True)
    assert (low.value, low.low, low.high, low.scale, low.se, low.df, low.n) == (2.0, 1.0, 2.5, "linear", 0.2, 4.0, 3)
    high = stats.worst([a, b], lower_is_worse=False)
    assert (high.value, high.low, high.high, high.se, high.df, high.n) == (3.0, 1.5, 4.0, 0.4, 2.0, 3)
    bare = stats.worst([a, stats.Estimate(5.0, None, None, "linear", n=1)], lower_is_worse=True)
    assert (bare.value, bare.low, bare.high, bare.se, bare.df, bare.n, bare.scale) == \
        (2.0, None, None, None, None, 1, "linear")
    with pytest.raises(ValueError):
        stats.worst([], lower_is_worse=True)


def test_p_values_are_the_t_tests_of_the_same_estimates() -> None:
    a, b = [1.0, 1.1, 0.95, 1.05], [1.3, 1.2, 1.4]
    unpaired = stats.unpaired_log_ratio(a, b)
    assert unpaired.p_value == pytest.approx(sps.ttest_ind(np.log(a), np.log(b), equal_var=False).pvalue)
    x, y = [1.0, 2.0, 3.0, 4.0], [2.1, 3.9, 6.3, 7.6]
    paired = stats.paired_log_ratio(x, y)
    assert paired.p_value == pytest.approx(sps.ttest_rel(np.log(x), np.log(y)).pvalue)
    assert stats.Estimate.from_values([2.0]).p_value == 1.0  # no spread measured: no evidence
    assert stats.paired_log_ratio([3.0, 3.0], [1.0, 1.0]).p_value == 0.0  # a certain change
    assert stats.paired_log_ratio([3.0, 3.0], [3.0, 3.0]).p_value == 1.0
    assert stats.Estimate.exact(2.0).p_value == 1.0 and stats.Estimate.exact(1.0).p_value == 1.0


def test_welch_degrees_of_freedom() -> None:
    a, b = [10.0, 11.0, 12.5], [5.0, 5.5, 5.2, 4.9, 5.1]
    est = stats.unpaired_log_ratio(a, b)
    va, vb = np.var(np.log(a), ddof=1) / 3, np.var(np.log(b), ddof=1) / 5
    assert est.df == pytest.approx((va + vb) ** 2 / (va**2 / 2 + vb**2 / 4))
    assert est.n == 3 and est.scale == "log"
    with_exact = stats.geomean([stats.Estimate.from_values(a), stats.Estimate.exact(2.0)])
    assert with_exact.df == pytest.approx(2.0)  # the exact part adds no noise and no df
    assert stats.geomean([stats.Estimate.exact(2.0), stats.Estimate.exact(8.0)]).df == math.inf


def test_sampled_cases_count_their_spread() -> None:
    tight_but_apart = [stats.Estimate.from_values(v) for v in ([1.0, 1.01, 0.99], [4.0, 4.04, 3.96], [2.0, 2.02, 1.98])]
    fixed, sampled = stats.geomean(tight_but_apart), stats.sampled_mean(tight_but_apart, "log")
    assert sampled.value == pytest.approx(fixed.value) and sampled.df == 2 and sampled.n == 3
    logs = np.log([e.value for e in tight_but_apart])
    half = sps.t.ppf(0.975, 2) * np.std(logs, ddof=1) / math.sqrt(3)
    assert sampled.high == pytest.approx(math.exp(logs.mean() + half)) and sampled.low < fixed.low
    noisy_but_close = [stats.Estimate.from_values(v, "linear") for v in ([0.0, 1.0, -1.0], [0.1, 1.1, -0.9])]
    assert stats.sampled_mean(noisy_but_close, "linear") == stats.mean(noisy_but_close)  # never narrower


def test_added_noise_widens_with_the_fewer_df_and_clipping_bounds_the_interval() -> None:
    seeds = stats.Estimate.from_values([0.1, 0.1, 0.1, 0.1], "linear")  # no seed-to-seed spread at all
    assert seeds.low == seeds.high == pytest.approx(0.1)
    widened = stats.add_noise(seeds, 0.05, 35.0)
    assert widened.se == pytest.approx(0.05) and widened.df == pytest.approx(3.0)
    assert widened.high - widened.low == pytest.approx(2 * sps.t.ppf(0.975, 3) * 0.05)
    spread = stats.Estimate.from_values([0.02, 0.05, 0.03], "linear")
    both = stats.add_noise(spread, 0.01, 35.0)
    assert both.se == pytest.approx(math.hypot(float(spread.se), 0.01)) and both.value == spread.value
    assert (both.scale, both.n) == ("linear", 3)
    wide = stats.Estimate.from_values([-0.9, 0.95], "linear")
    clipped = stats.clipped(wide, -1.0, 1.0)
    assert (clipped.low, clipped.high) == (-1.0, 1.0) and clipped.value == wide.value
    assert stats.add_noise(stats.Estimate.from_values([0.3], "linear"), 0.05, 10).low is None


@pytest.mark.parametrize(("seeds", "se", "df"), [([0.04, 0.06], 0.01, 35.0), ([0.045, 0.055], 0.005, 35.0),
                                                  ([0.01, 0.03, 0.02, 0.04, 0.0], 0.003, 35.0),
                                                  ([0.01, 0.02, 0.03], 0.2, 9.0)])
def test_added_noise_never_narrows_either_source(seeds: list[float], se: float, df: float) -> None:
    alone = stats.Estimate.from_values(seeds, "linear")
    both = stats.add_noise(alone, se, df)
    test_only = sps.t.ppf(0.975, df) * se
    assert both.low <= alone.low and both.high >= alone.high  # type: ignore[operator]
    assert both.high - both.low >= 2 * test_only - 1e-12  # type: ignore[operator]


def test_two_sampled_cases_already_count_their_spread() -> None:
    apart = [stats.Estimate.from_values([1.0, 1.01, 0.99], "linear"), stats.Estimate.from_values([3.0, 3.03, 2.97],
                                                                                                   "linear")]
    sampled = stats.sampled_mean(apart, "linear")
    assert sampled.df == 1 and sampled.se == pytest.approx(1.0) and sampled.value == pytest.approx(2.0)
    single = [stats.Estimate.from_values([1.0], "linear"), stats.Estimate.from_values([3.0], "linear")]
    from_spread = stats.sampled_mean(single, "linear")  # the cases have no errors of their own
    assert (from_spread.se, from_spread.df, from_spread.n) == (pytest.approx(1.0), 1.0, 1)
    assert from_spread.scale == "linear" and from_spread.value == pytest.approx(2.0)
    assert from_spread.low == pytest.approx(2.0 - sps.t.ppf(0.975, 1))


def test_the_worst_case_takes_the_lowest_high_even_from_another_case() -> None:
    wide = stats.Estimate(2.0, 0.5, 3.5, "linear", 0.7, 4.0, 5)  # the lowest value, but a high reach
    narrow = stats.Estimate(3.0, 2.8, 3.2, "linear", 0.1, 4.0, 5)
    worst = stats.worst([wide, narrow], lower_is_worse=True)
    assert (worst.value, worst.low, worst.high) == (2.0, 0.5, 3.2)


def test_power_says_what_the_values_could_detect_and_how_many_the_measured_distance_needs() -> None:
    values = [0.01, -0.005, 0.02, 0.004]
    est = stats.Estimate.from_values(values, "linear")
    found = stats.power(est, 0.0)
    assert found is not None and found.n == 4 and found.needed is not None
    sd = float(np.std(values, ddof=1))
    t = sps.t.ppf
    assert found.detectable == pytest.approx((t(0.975, 3) + t(0.8, 3)) * sd / 2)
    m = found.needed
    assert (t(0.975, m - 1) + t(0.8, m - 1)) * sd / math.sqrt(m) <= abs(est.value)  # enough ...
    assert (t(0.975, m - 2) + t(0.8, m - 2)) * sd / math.sqrt(m - 1) > abs(est.value)  # ... and no more
    more = stats.power(stats.Estimate.from_values(values * 4, "linear"), 0.0)
    assert more is not None and more.detectable < found.detectable  # more seeds detect smaller effects
    ratio = stats.power(stats.Estimate.from_values([1.1, 0.95, 1.3], "log"), 1.0)
    assert ratio is not None and ratio.scale == "log" and ratio.detectable > 1
    assert stats.power(stats.Estimate.exact(2.0), 1.0) is None  # no spread, nothing to say


def test_a_straddling_verdict_says_how_many_values_would_settle_it() -> None:
    verdict, reason = verdicts.decide(Rule(at_most=0.0), stats.Estimate.from_values([0.01, -0.005, 0.02], "linear"))
    found = stats.power(stats.Estimate.from_values([0.01, -0.005, 0.02], "linear"), 0.0)
    assert verdict == "inconclusive" and found is not None and f"would need about {found.needed}" in reason


def test_copy_bandwidth_counts_the_bytes_read_and_written(monkeypatch: pytest.MonkeyPatch) -> None:
    """A 4 MiB float32 copy taking exactly 2 ms (a stepping clock) is 2 x 4 MiB / 2 ms."""
    ticks = iter(np.arange(0, 10, 0.002))
    monkeypatch.setattr(timing.time, "perf_counter", lambda: float(next(ticks)))
    gbps = timing.copy_bandwidth_gbps(torch.device("cpu"), nbytes=4 << 20, reps=3)
    assert gbps.shape == (3,) and np.allclose(gbps, 2 * (4 << 20) / 0.002 / 1e9)
