"""The kernel kinds' judging, from measurements written by hand (kbench.kinds.kernels): which
seeds an error ratio pairs, the worst seed of a max error, the share of bitwise repeats, the
fraction of the copy bandwidth and when it is impossible, and what each case records."""

from __future__ import annotations

from typing import Any, cast

import numpy as np
import pytest

from kbench import stats
from kbench.kinds import kernels
from kbench.kinds.base import Claim, Impossible, NotJudged

CLAIM = cast(Claim, None)  # evaluate reads the measurements, not the claim
CASE = {"shape": [4, 8], "dtype": "float32"}


def _m(role: str, metric: str, samples: list[float], groups: list[int] | None = None, **extra: Any
       ) -> dict[str, Any]:
    m = {"role": role, "metric": metric, "status": "ok", "samples": samples, "subject": {"impl": "k"},
         "summary": stats.summarize(samples).as_dict(), "noise": "seeds", "extra": {}}
    if groups is not None:
        m["groups"] = groups
    m.update(extra)
    return m


def _ratio(measurements: list[dict[str, Any]], case: dict[str, Any] | None = None) -> list[Any]:
    return kernels.ErrorRatio().evaluate(CLAIM, case or CASE, measurements, {})


def test_an_error_ratio_pairs_the_sides_by_seed_not_by_position() -> None:
    base = _m("baseline", "rel_err_dA", [8.0, 2.0, 4.0], groups=[3, 1, 2])
    cand = _m("candidate", "rel_err_dA", [1.0, 2.0, 4.0], groups=[1, 2, 3])  # seed s: base 2s, cand s
    (cv,) = _ratio([base, cand])
    assert cv.estimate.value == pytest.approx(2.0) and cv.estimate.se == pytest.approx(0.0, abs=1e-12)
    assert cv.details == {"baseline": 4.0, "candidate": 2.0, "seeds": 3}
    assert cv.case == {**CASE, "grad": "dA"}


def test_without_seed_labels_samples_pair_in_order_and_a_seed_one_side_lacks_is_left_out() -> None:
    (cv,) = _ratio([_m("baseline", "rel_err_y", [2.0, 8.0]), _m("candidate", "rel_err_y", [1.0, 4.0])])
    assert cv.estimate.value == pytest.approx(2.0) and cv.details["seeds"] == 2
    (cv,) = _ratio([_m("baseline", "rel_err_y", [2.0, 8.0, 50.0], groups=[0, 1, 2]),
                    _m("candidate", "rel_err_y", [1.0, 4.0], groups=[0, 1])])
    assert cv.estimate.value == pytest.approx(2.0) and cv.details == {"baseline": 8.0, "candidate": 2.5, "seeds": 2}


def test_seed_labels_that_do_not_match_the_samples_are_refused() -> None:
    with pytest.raises(ValueError, match="zip"):
        _ratio([_m("baseline", "rel_err_y", [2.0, 8.0], groups=[0]), _m("candidate", "rel_err_y", [1.0, 4.0])])
    with pytest.raises(ValueError, match="zip"):
        _ratio([_m("baseline", "rel_err_y", [2.0, 8.0]), _m("candidate", "rel_err_y", [1.0, 4.0], groups=[0])])


@pytest.mark.parametrize(("base", "cand"), [([2.0, 0.0], [1.0, 1.0]), ([2.0, 1.0], [0.0, 1.0])])
def test_an_error_of_exactly_zero_on_either_side_leaves_the_ratio_unjudged(base: list[float],
                                                                            cand: list[float]) -> None:
    with pytest.raises(NotJudged, match="rel_err_y: an error of exactly zero"):
        _ratio([_m("baseline", "rel_err_y", base), _m("candidate", "rel_err_y", cand)])
    with pytest.raises(NotJudged, match="exactly zero"):  # no seed in common
        _ratio([_m("baseline", "rel_err_y", [1.0], groups=[0]), _m("candidate", "rel_err_y", [1.0], groups=[1])])


def test_each_compared_output_is_its_own_case_its_label_extended() -> None:
    ms = [_m(r, f"rel_err_{g}", [2.0, 4.0]) for g in ("dA", "dB") for r in ("baseline", "candidate")]
    ms.append(_m("baseline", "time_ms", [1.0]))
    cases = [cv.case for cv in _ratio(ms, {"shape": [4, 8], "label": "KAT-T hidden"})]
    assert cases == [{"shape": [4, 8], "grad": "dA", "label": "KAT-T hidden, dA"},
                     {"shape": [4, 8], "grad": "dB", "label": "KAT-T hidden, dB"}]


def _max(measurements: list[dict[str, Any]], case: dict[str, Any] | None = None) -> list[Any]:
    return kernels.MaxError().evaluate(CLAIM, case or CASE, measurements, {})


def test_a_max_error_is_the_worst_seed_of_each_output_of_the_subject() -> None:
    ms = [_m("subject", "time_ms", [1.0]), _m("baseline", "rel_err_y", [9.0]),
          _m("subject", "rel_err_y", [1e-7, 3e-7, 2e-7]), _m("subject", "rel_err_dx", [5e-7, 4e-7])]
    y, dx = _max(ms, {"shape": [4, 8], "label": "toy"})
    assert (y.estimate.value, y.estimate.low, y.estimate.high, y.estimate.n) == (3e-7, 3e-7, 3e-7, 3)
    assert y.details == {"median": 2e-7, "seeds": 3} and dx.estimate.n == 2
    assert y.case == {"shape": [4, 8], "output": "y", "label": "toy, y"} and dx.case["output"] == "dx"


@pytest.mark.parametrize("change", [{"status": "error"}, {"samples": []}])
def test_a_max_error_not_measured_is_not_judged(change: dict[str, Any]) -> None:
    with pytest.raises(NotJudged, match="rel_err_y was not measured"):
        _max([{**_m("subject", "rel_err_y", [1e-7]), **change}])


def test_a_bitwise_share_is_exact_on_the_linear_scale_with_its_repeats() -> None:
    (cv,) = kernels.BitwiseRepeat().evaluate(CLAIM, CASE, [_m("subject", "bitwise_equal", [1.0, 0.0, 1.0, 1.0])], {})
    assert (cv.estimate.value, cv.estimate.low, cv.estimate.scale, cv.estimate.n) == (0.75, 0.75, "linear", 4)
    assert cv.details == {"repeats": 4} and cv.case == CASE


def _fraction(samples: list[float], groups: list[int] | None, copy: float = 1.0, peak: float | None = None
              ) -> list[Any]:
    m = _m("subject", "time_ms", samples, groups, noise="timing", extra={"bytes": 10**9, "timing": "events"})
    peaks = {"copy_gbps": copy, **({"memory_peak_gbps": peak} if peak else {})}
    return kernels.BandwidthFraction().evaluate(CLAIM, CASE, [m], peaks)


def test_a_bandwidth_fraction_is_each_rounds_rate_over_the_copy_on_a_log_scale() -> None:
    # rounds of 2000 ms and 4000 ms for 1 GB: 0.5 and 0.25 GB/s against a copy of 1 GB/s
    (cv,) = _fraction([2000.0, 2000.0, 4000.0, 4000.0], [0, 0, 1, 1])
    expected = stats.Estimate.from_values(np.array([0.5, 0.25]), "log")
    assert cv.estimate == expected and cv.estimate.scale == "log"
    assert cv.details == {"median_ms": 3000.0, "method": "events"}
    (one,) = _fraction([2000.0, 4000.0], None)  # no rounds recorded: one round, its median
    assert one.estimate.value == pytest.approx(1 / 3) and one.estimate.n == 1


def test_a_rate_exactly_at_the_copy_is_possible_and_beyond_it_is_not() -> None:
    (cv,) = _fraction([1000.0, 1000.0, 1000.0], [0, 1, 2])
    assert cv.estimate.value == 1.0 and cv.estimate.low == 1.0
    with pytest.raises(Impossible, match=r"^k moved its bytes at 1.5 x \[1.5, 1.5\] the copy bandwidth measured "
                                         r"in this run: faster than the device can copy them, so the timing is not "
                                         r"of the work$"):
        _fraction([1000.0, 1000.0, 1000.0], [0, 1, 2], copy=1 / 1.5)


def test_an_error_measurements_record_names_its_seeds_and_summarises_by_seed() -> None:
    m = kernels._error_measurement("dA", [0.1, 0.3, 0.2], [4, 5, 6], CASE, "kbench_triton")
    assert (m.metric, m.unit, m.better, m.noise, m.samples, m.groups) == (
        "rel_err_dA", "relative", "lower", "seeds", [0.1, 0.3, 0.2], [4, 5, 6])
    assert m.summary == stats.summarize([0.1, 0.3, 0.2], [4, 5, 6]).as_dict() and m.summary["rounds"] == 3
    assert m.subject == {"impl": "kbench_triton"} and m.case == CASE


def test_a_fraction_above_the_copy_but_within_the_memorys_peak_is_possible() -> None:
    """torch's copy need not reach the memory's rated speed (an H200's ran at 70% of it): 1 GB/s,
    1.5x a copy of 0.67 GB/s, is possible on a memory rated 2 GB/s, not on one rated 0.9 GB/s."""
    (cv,) = _fraction([1000.0, 1000.0, 1000.0], [0, 1, 2], copy=1 / 1.5, peak=2.0)
    assert cv.estimate.value == pytest.approx(1.5)
    with pytest.raises(Impossible, match=r"copy bandwidth measured in this run, and above the memory's theoretical "
                                         r"peak \(0.9 GB/s\): faster than the device"):
        _fraction([1000.0, 1000.0, 1000.0], [0, 1, 2], copy=1 / 1.5, peak=0.9)
