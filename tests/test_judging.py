"""Judging: each kind's value from hand-made measurements, checked against an exact expectation,
then cases combined and ruled on. Pure: no device, no timing."""

from __future__ import annotations

import pytest

from kbench import stats
from kbench.claims import Claim
from kbench.judging import judge
from kbench.verdicts import Rule
from tests.fakes import seeded, timed

A, B = {"shape": [4, 8], "label": "A"}, {"shape": [8, 8], "label": "B"}


def claim(kind: str, rule: Rule, combine: str = "geomean", paper_value: float | None = None) -> Claim:
    return Claim("c", kind, rule, "q", paper_value, combine)


def test_speedup_is_baseline_over_candidate_per_round() -> None:
    ms = [timed("baseline", [2.0, 2.2, 2.1]), timed("candidate", [1.0, 1.0, 1.0])]
    v = judge(claim("speedup", Rule(at_least=1.5)), ms, {})
    expected = stats.Estimate.from_values([2.0, 2.2, 2.1])
    assert v.measured == pytest.approx(expected.value)
    assert v.interval == pytest.approx([expected.low, expected.high])
    assert v.verdict == "reproduced" and v.n == 3
    swapped = [timed("baseline", [1.0, 1.0, 1.0]), timed("candidate", [2.0, 2.2, 2.1])]
    flipped = judge(claim("speedup", Rule(at_least=1.5)), swapped, {})
    assert flipped.measured == pytest.approx(1 / expected.value) and flipped.verdict == "not-reproduced"


def test_train_speedup_is_baseline_over_candidate() -> None:
    ms = [timed("baseline", [30.0, 33.0, 31.0], metric="step_ms"), timed("candidate", [10.0, 10.0, 10.0],
                                                                         metric="step_ms")]
    v = judge(claim("train-speedup", Rule(at_least=2)), ms, {})
    assert v.measured == pytest.approx(stats.Estimate.from_values([3.0, 3.3, 3.1]).value)


def test_one_round_gives_a_value_but_no_verdict() -> None:
    ms = [timed("baseline", [2.0]), timed("candidate", [1.0])]
    v = judge(claim("speedup", Rule(at_least=1.5)), ms, {})
    assert v.measured == pytest.approx(2.0) and v.interval is None and v.verdict == "inconclusive"


def test_sides_timed_by_different_methods_are_not_compared() -> None:
    ms = [timed("baseline", [2.0, 2.0]), timed("candidate", [1.0, 1.0], method="cuda-graph")]
    v = judge(claim("speedup", Rule(at_least=1.5)), ms, {})
    assert v.verdict == "inconclusive" and "different methods" in (v.reason or "")


def test_geometric_mean_over_cases() -> None:
    ms = [timed("baseline", [4.0, 4.0, 4.0], case=A), timed("candidate", [1.0, 1.0, 1.0], case=A),
          timed("baseline", [9.0, 9.0, 9.0], case=B), timed("candidate", [1.0, 1.0, 1.0], case=B)]
    v = judge(claim("speedup", Rule(at_least=1)), ms, {})
    assert v.measured == pytest.approx(6.0)
    assert [c["value"] for c in v.per_case] == pytest.approx([4.0, 9.0])
    assert [c["case"]["label"] for c in v.per_case] == ["A", "B"]


def test_worst_and_each_combine() -> None:
    ms = [timed("baseline", [4.0, 4.1, 3.9], case=A), timed("candidate", [1.0, 1.0, 1.0], case=A),
          timed("baseline", [9.0, 9.1, 8.9], case=B), timed("candidate", [1.0, 1.0, 1.0], case=B)]
    worst = judge(claim("speedup", Rule(at_least=5), combine="worst"), ms, {})
    assert worst.measured == pytest.approx(stats.Estimate.from_values([4.0, 4.1, 3.9]).value)
    assert worst.verdict == "not-reproduced"
    each = judge(claim("speedup", Rule(at_least=5, at_most=20), combine="each"), ms, {})
    assert each.verdict == "not-reproduced" and "case A" in (each.reason or "")
    assert each.measured == pytest.approx(worst.measured)


def test_bandwidth_fraction_per_round() -> None:
    nbytes = 10**9
    ms = [timed("subject", [2.0, 2.5, 2.0], nbytes=nbytes)]  # 1e9 B in 2 ms = 500 GB/s
    v = judge(claim("bandwidth-fraction", Rule(at_least=0.1), combine="worst"), ms, {"copy_gbps": 1000.0})
    expected = stats.Estimate.from_values([0.5, 0.4, 0.5])
    assert v.measured == pytest.approx(expected.value) and v.interval == pytest.approx([expected.low, expected.high])
    missing = judge(claim("bandwidth-fraction", Rule(at_least=0.1)), ms, {})
    assert missing.verdict == "inconclusive" and "copy bandwidth" in (missing.reason or "")


def test_error_ratio_is_paired_by_seed() -> None:
    ms = [seeded("baseline", [4e-6, 9e-6, 1e-6], "rel_err_dA"), seeded("candidate", [1e-7, 3e-7, 1e-7], "rel_err_dA")]
    v = judge(claim("error-ratio", Rule(at_least=2)), ms, {})
    assert v.measured == pytest.approx(stats.paired_log_ratio([40, 30, 10], [1, 1, 1]).value)
    assert v.per_case[0]["case"]["grad"] == "dA"
    swapped = [dict(m, role=r) for m, r in zip(ms, ("candidate", "baseline"), strict=True)]
    inverted = judge(claim("error-ratio", Rule(at_least=2)), list(reversed(swapped)), {})
    assert inverted.measured == pytest.approx(1 / v.measured)


def test_error_ratio_with_a_zero_error_is_not_judged() -> None:
    ms = [seeded("baseline", [4e-6, 9e-6], "rel_err_dA"), seeded("candidate", [0.0, 3e-7], "rel_err_dA")]
    v = judge(claim("error-ratio", Rule(at_least=2)), ms, {})
    assert v.verdict == "inconclusive" and "zero" in (v.reason or "")


def test_max_error_takes_the_worst_seed_and_output() -> None:
    ms = [seeded("subject", [1e-7, 3e-7, 2e-7], "rel_err_dx"), seeded("subject", [5e-8, 4e-8, 6e-8], "rel_err_dA")]
    v = judge(claim("max-error", Rule(at_most=1e-6), combine="worst"), ms, {})
    assert v.measured == pytest.approx(3e-7) and v.verdict == "reproduced"
    assert sorted(c["value"] for c in v.per_case) == pytest.approx([6e-8, 3e-7])
    assert judge(claim("max-error", Rule(at_most=2e-7), combine="worst"), ms, {}).verdict == "not-reproduced"


def test_bitwise_share_counts_equal_repeats() -> None:
    ms = [seeded("subject", [1.0, 0.0, 1.0, 1.0], "bitwise_equal", noise="exact")]
    v = judge(claim("bitwise-repeat", Rule(at_least=1.0), combine="worst"), ms, {})
    assert v.measured == pytest.approx(0.75) and v.verdict == "not-reproduced"


def test_time_share_is_the_mean_over_rounds_of_their_median_step() -> None:
    ms = [timed("subject", [0.9, 0.8, 0.85], metric="share")]
    v = judge(claim("time-share", Rule(at_least=0.5), combine="worst"), ms, {})
    expected = stats.Estimate.from_values([0.9, 0.8, 0.85], "linear")
    assert v.measured == pytest.approx(0.85) and v.verdict == "reproduced" and v.n == 3
    assert v.interval == pytest.approx([expected.low, expected.high])
    one_round = judge(claim("time-share", Rule(at_least=0.5), combine="worst"),
                      [timed("subject", [0.9], metric="share")], {})
    assert one_round.verdict == "inconclusive"  # steps of one round carry no run-to-run spread


def test_flops_ratio_is_exact() -> None:
    ms = [seeded("baseline", [300.0], "flops", noise="exact"), seeded("candidate", [200.0], "flops", noise="exact")]
    v = judge(claim("flops-ratio", Rule(at_least=1.4, at_most=1.6), combine="each"), ms, {})
    assert v.measured == pytest.approx(1.5) and v.interval == pytest.approx([1.5, 1.5]) and v.verdict == "reproduced"


def test_a_paper_value_belongs_to_its_case() -> None:
    paper_case = {"shape": [8, 8], "label": "paper's conditions", "paper_value": 10.0}
    ms = [timed("baseline", [3.0, 3.1, 2.9], case=A), timed("candidate", [1.0, 1.0, 1.0], case=A),
          timed("baseline", [8.0, 8.1, 7.9], case=paper_case), timed("candidate", [1.0, 1.0, 1.0], case=paper_case)]
    v = judge(claim("speedup", Rule(at_least=0.5, of_paper=True)), ms, {})
    assert v.verdict == "reproduced"  # 8 >= 0.5 x 10; case A (3x) has no paper value and is not judged
    assert v.measured == pytest.approx(stats.Estimate.from_values([8.0, 8.1, 7.9]).value)
    assert v.paper_value == 10.0 and v.ratio_to_paper == pytest.approx(v.measured / 10.0)
    assert v.rule["text"] == ">= 5 (0.5 x paper)"
    assert "paper_value" not in v.per_case[0] and v.per_case[1]["paper_value"] == 10.0
    assert any("paper's own value" in n for n in v.notes)


def test_a_relative_rule_without_the_papers_conditions_is_not_judged() -> None:
    ms = [timed("baseline", [3.0, 3.1, 2.9], case=A), timed("candidate", [1.0, 1.0, 1.0], case=A)]
    v = judge(claim("speedup", Rule(at_least=0.5, of_paper=True)), ms, {})
    assert v.verdict == "inconclusive" and "paper's" in (v.reason or "") and v.measured is None


def test_claim_level_paper_value_and_relative_rule() -> None:
    ms = [timed("baseline", [3.0, 3.1, 2.9]), timed("candidate", [1.0, 1.0, 1.0])]
    v = judge(claim("speedup", Rule(at_least=0.5, of_paper=True), paper_value=4.0), ms, {})
    assert v.verdict == "reproduced" and v.ratio_to_paper == pytest.approx(v.measured / 4.0)
    high = judge(claim("speedup", Rule(at_least=0.5, of_paper=True), paper_value=8.0), ms, {})
    assert high.verdict == "not-reproduced"


def test_missing_or_failed_measurements_are_not_judged() -> None:
    failed = dict(timed("candidate", [1.0, 1.0]), status="error", samples=None, reason="boom")
    v = judge(claim("speedup", Rule(at_least=1)), [timed("baseline", [2.0, 2.0]), failed], {})
    assert v.verdict == "inconclusive" and "boom" in (v.reason or "")
    assert judge(claim("speedup", Rule(at_least=1)), [], {}).verdict == "inconclusive"


def test_a_time_taken_in_an_emulation_is_skipped_never_judged() -> None:
    emulated = timed("candidate", [0.001, 0.001, 0.001])
    emulated["extra"]["emulated"] = "Triton's interpreter (TRITON_INTERPRET=1)"
    v = judge(claim("speedup", Rule(at_least=1.5)), [timed("baseline", [2.0, 2.2, 2.1]), emulated], {})
    assert v.verdict == "skipped" and v.measured is None and v.reason and v.reason.startswith(
        "not comparable: timed in an emulation (candidate ran in Triton's interpreter")
    alone = dict(timed("subject", [2.0, 2.5, 2.0], nbytes=10**9), extra={**emulated["extra"], "bytes": 10**9})
    bw = judge(claim("bandwidth-fraction", Rule(at_least=0.1), combine="worst"), [alone], {"copy_gbps": 1000.0})
    assert bw.verdict == "skipped" and "emulation" in (bw.reason or "")
    replicated = [dict(m, replicate=seed) for seed in (1, 2) for m in (timed("baseline", [2.0, 2.2, 2.1]), emulated)]
    assert judge(claim("speedup", Rule(at_least=1.5)), replicated, {}).verdict == "skipped"
