"""The regression gate on synthetic result files: each noise model, direction and refusal."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from kbench import cli, gate, gate_metrics, gate_summary, reading
from tests.synthetic import make_result, mark_timings


def _compare(tmp_path: Path, base: dict | None = None, **candidate: object) -> gate.GateReport:
    b = make_result(tmp_path / "a", seed=1, **(base or {}))  # type: ignore[arg-type]
    c = make_result(tmp_path / "b", seed=2, **candidate)  # type: ignore[arg-type]
    return gate.compare(reading.load(b), reading.load(c))


def _status(report: gate.GateReport, metric: str) -> set[str]:
    return {c.status for c in report.comparisons if c.metric == metric}


def test_identical_runs_pass(tmp_path: Path) -> None:
    report = _compare(tmp_path)
    assert report.exit_code == 0 and not report.regressions and not report.missing
    assert {c.status for c in report.comparisons} == {"unchanged"}
    assert "## kbench gate: PASS" in gate_summary.markdown(report)


def test_ten_percent_slowdown_with_tight_rounds_fails(tmp_path: Path) -> None:
    report = _compare(tmp_path, scale=1.10)
    assert report.exit_code == 1 and len(report.regressions) == 2
    r = report.regressions[0]
    assert r.ratio == pytest.approx(1.10, rel=0.01) and r.low > 1.05 and r.p_value < 0.01 and r.high < 1.15
    assert r.case == "128x197x768 dtype=float32" and r.baseline == pytest.approx(1.0, rel=0.01)
    text = gate_summary.markdown(report)
    assert "FAIL" in text and "### Regressions" in text and "fast:fwd" in text


def test_a_slowdown_inside_the_baselines_own_noise_cannot_be_judged(tmp_path: Path) -> None:
    report = _compare(tmp_path, base={"round_noise": 0.08}, scale=1.10, round_noise=0.08)
    timing = [c for c in report.comparisons if c.noise == "timing"]
    assert {c.status for c in timing} == {"suspect"} and all(c.tolerance == 0.05 for c in timing)
    assert report.exit_code == 2 and report.verdict == "CANNOT JUDGE"  # neither a pass nor a regression
    assert "(suspect)" in gate_summary.markdown(report)


def test_a_small_change_inside_the_noise_still_passes(tmp_path: Path) -> None:
    report = _compare(tmp_path, base={"round_noise": 0.02}, scale=1.01, round_noise=0.02)
    assert report.exit_code == 0 and _status(report, "time_ms") == {"unchanged"}


def test_a_significant_slowdown_within_twice_the_baseline_spread_is_suspect_not_regression(tmp_path: Path) -> None:
    report = _compare(tmp_path, base={"round_noise": 0.2, "rounds": 30}, scale=1.3, round_noise=0.002, rounds=30)
    (c, *_) = [c for c in report.comparisons if c.noise == "timing"]
    assert c.p_value < 0.01 and c.low > 1 and c.status == "suspect" and "baseline's own rounds" in c.reason
    big = _compare(tmp_path / "big", base={"round_noise": 0.2, "rounds": 30}, scale=2.0, round_noise=0.002, rounds=30)
    assert big.exit_code == 1 and _status(big, "time_ms") == {"regression"}


def test_a_large_slowdown_with_wild_rounds_is_not_a_pass(tmp_path: Path) -> None:
    base = reading.load(make_result(tmp_path / "a", seed=1, rounds=4))
    cand = reading.load(make_result(tmp_path / "b", seed=2, rounds=4))
    for m in cand["measurements"]:  # rounds at x1, x1, x4, x4: a geometric mean 2x slower, not significant
        if m["noise"] == "timing":
            m["samples"] = [x * (1, 1, 4, 4)[g] for x, g in zip(m["samples"], m["groups"], strict=True)]
    report = gate.compare(base, cand)
    assert _status(report, "time_ms") == {"suspect"} and report.exit_code == 2


def test_speedup_is_an_improvement_not_a_failure(tmp_path: Path) -> None:
    report = _compare(tmp_path, scale=0.8)
    assert report.exit_code == 0 and _status(report, "time_ms") == {"improvement"}


def test_too_few_rounds_cannot_be_judged(tmp_path: Path) -> None:
    report = _compare(tmp_path, base={"rounds": 1}, scale=1.5)
    assert report.exit_code == 2 and report.verdict == "CANNOT JUDGE"
    assert _status(report, "time_ms") == {"underpowered"}
    assert "needs 3" in gate_summary.markdown(report)
    c = next(c for c in report.comparisons if c.subject == "slow:fwd")
    assert c.baseline == pytest.approx(2.0, rel=0.01) and c.candidate == pytest.approx(3.0, rel=0.01)


def test_five_against_three_samples_of_one_round_cannot_pass(tmp_path: Path) -> None:
    report = _compare(tmp_path, base={"rounds": 1, "n": 5}, rounds=1, n=3, scale=1.5)
    assert report.exit_code == 2


def test_a_seeded_error_regression_fails_and_is_paired_by_seed(tmp_path: Path) -> None:
    report = _compare(tmp_path, error_scale=3.0)
    (c,) = [c for c in report.comparisons if c.noise == "seeds"]
    assert c.status == "regression" and c.ratio == pytest.approx(3.0, rel=0.03)
    assert report.exit_code == 1


def test_an_exact_metric_that_changes_is_reported(tmp_path: Path) -> None:
    report = _compare(tmp_path, flops=2e9)
    (c,) = [c for c in report.comparisons if c.noise == "exact"]
    assert c.status == "changed" and c.ratio == pytest.approx(2.0)
    assert report.exit_code == 2 and "measured different things" in c.reason  # not a silent pass


@pytest.mark.parametrize("after", ["not-reproduced", "inconclusive", "error", "skipped"])
def test_a_reproduced_claim_that_is_no_longer_reproduced_fails(tmp_path: Path, after: str) -> None:
    report = _compare(tmp_path, verdict=after)
    assert report.exit_code == 1 and report.flips[0].after == after
    assert "### Verdict changes" in gate_summary.markdown(report)


def test_a_claim_or_metric_missing_from_the_candidate_fails(tmp_path: Path) -> None:
    base = reading.load(make_result(tmp_path / "a", seed=1))
    cand = reading.load(make_result(tmp_path / "b", seed=2))
    cand["verdicts"] = []
    cand["measurements"] = cand["measurements"][1:]
    report = gate.compare(base, cand)
    assert report.exit_code == 1
    assert "claim speed" in report.missing and any(m.startswith("metric time_ms / fast:fwd") for m in report.missing)


def test_per_claim_threshold_from_the_baseline(tmp_path: Path) -> None:
    base = reading.load(make_result(tmp_path / "a", seed=1))
    cand = reading.load(make_result(tmp_path / "b", seed=2, scale=1.10))
    base["thresholds"] = {"speed": 0.2}  # a claim's max_slowdown, recorded by the runner
    assert gate.compare(base, cand).exit_code == 0


def test_a_candidate_cannot_loosen_its_own_threshold(tmp_path: Path) -> None:
    base = reading.load(make_result(tmp_path / "a", seed=1))
    cand = reading.load(make_result(tmp_path / "b", seed=2, scale=1.5))
    cand["thresholds"] = {"speed": 0.9}
    report = gate.compare(base, cand)
    assert report.exit_code == 1 and any("the baseline's is used" in n for n in report.notes)


def test_an_interrupted_run_is_not_a_candidate(tmp_path: Path) -> None:
    base = reading.load(make_result(tmp_path / "a", seed=1))
    cand = reading.load(make_result(tmp_path / "b", seed=2))
    cand["interrupted"] = True
    with pytest.raises(gate.GateInputError, match="interrupted"):
        gate.compare(base, cand)


def test_different_devices_compare_only_device_independent_metrics(tmp_path: Path) -> None:
    report = _compare(tmp_path, device="cpu", scale=3.0)
    assert [c.metric for c in report.comparisons] == ["flops"] and not report.flips
    assert any("different devices" in n for n in report.notes)
    assert report.exit_code == 2 and len(report.unjudged) == 3  # a 3x slowdown elsewhere is not a pass
    assert "measured on another device" in gate_summary.markdown(report)
    report = _compare(tmp_path / "x", device="cpu", flops=5e9)
    assert [c.status for c in report.comparisons] == ["changed"]


def test_a_timed_share_has_no_better_direction_so_it_changes_but_never_regresses(tmp_path: Path) -> None:
    base = reading.load(make_result(tmp_path / "a", seed=1))
    cand = reading.load(make_result(tmp_path / "b", seed=2, scale=1.5))
    for r in (base, cand):
        for m in r["measurements"]:
            m["better"] = "none" if m["noise"] == "timing" else m["better"]
    report = gate.compare(base, cand)
    assert _status(report, "time_ms") == {"changed"} and not report.regressions
    same = gate.compare(base, reading.load(make_result(tmp_path / "c", seed=3)) | {"measurements": [
        {**m, "better": "none"} for m in reading.load(make_result(tmp_path / "d", seed=3))["measurements"]]})
    assert _status(same, "time_ms") == {"unchanged"}


def test_cpus_of_other_models_are_other_devices(tmp_path: Path) -> None:
    base = reading.load(make_result(tmp_path / "a", seed=1, device="cpu"))
    cand = reading.load(make_result(tmp_path / "b", seed=2, device="cpu", scale=2.0))
    base["env"].update(cpu="Intel Xeon 8480", cpu_count=2)
    cand["env"].update(cpu="AMD EPYC 9654", cpu_count=2)
    report = gate.compare(base, cand)
    assert [c.metric for c in report.comparisons] == ["flops"] and report.exit_code == 2
    cand["env"].update(cpu="Intel Xeon 8480")
    assert gate.compare(base, cand).exit_code == 1  # the same processor: timings compared, 2x slower fails
    for r in (base, cand):  # older CPU files record only the architecture: unknown is not equal to unknown
        r["env"].update(cpu="x86_64")
        r["env"].pop("cpu_count")
    assert [c.metric for c in gate.compare(base, cand).comparisons] == ["flops"]


def test_nothing_in_common_exits_2(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    base = reading.load(make_result(tmp_path / "a", seed=1))
    cand = reading.load(make_result(tmp_path / "b", seed=2))
    for r in (base, cand):
        r["measurements"], r["verdicts"] = [], []
    with pytest.raises(gate.GateInputError, match="nothing to compare"):
        gate.compare(base, cand)


@pytest.mark.parametrize("corrupt", ["{", "[]", '{"schema_version": 2}', "\xff"])
def test_unusable_files_exit_2_never_0(tmp_path: Path, capsys, corrupt: str) -> None:  # type: ignore[no-untyped-def]
    good = make_result(tmp_path / "a", seed=1)
    bad = tmp_path / "bad.json"
    bad.write_bytes(corrupt.encode("latin-1"))
    assert cli.main(["gate", str(good), str(bad)]) == 2
    assert cli.main(["gate", str(bad), str(good)]) == 2
    err = capsys.readouterr().err
    assert "bad.json" in err and "Traceback" not in err


def test_cli_writes_the_summary_and_finds_the_device_baseline(tmp_path: Path) -> None:
    baselines = tmp_path / "baselines"
    baselines.mkdir()
    base = make_result(tmp_path / "a", seed=1)
    (baselines / "nvidia-h100-80gb-hbm3.json").write_bytes(base.read_bytes())
    cand = make_result(tmp_path / "b", seed=2, scale=1.2)
    summary = tmp_path / "summary.md"
    code = cli.main(["gate", str(cand), "--baselines", str(baselines), "--summary", str(summary)])
    assert code == 1
    assert summary.read_text().startswith("## kbench gate: FAIL")
    data = json.loads(base.read_text())
    assert data["schema_version"] == 2


def test_the_committed_single_round_baseline_cannot_judge(root: Path, tmp_path: Path) -> None:
    """The H100 baseline was recorded before rounds existed: the gate refuses to judge against it."""
    base = reading.load(root / "results" / "baselines" / "nvidia-h100-80gb-hbm3.json")
    report = gate.compare(base, base)
    assert report.exit_code == 2 and report.underpowered


def test_two_timings_of_one_kernel_under_two_claims_are_both_compared(tmp_path: Path) -> None:
    """Merged shards can hold two timings of the same kernel and case, one per claim: a slowdown of
    either one must be seen."""
    base = reading.load(make_result(tmp_path / "a", seed=1))
    cand = reading.load(make_result(tmp_path / "b", seed=2))
    for r, factor in ((base, 1.0), (cand, 3.0)):
        copy = dict(r["measurements"][0], claim="other",
                    samples=[s * factor * 1.001 for s in r["measurements"][0]["samples"]])
        r["measurements"].append(copy)
        r["verdicts"].append(dict(r["verdicts"][0], claim="other"))
    report = gate.compare(base, cand)
    fast = [c for c in report.comparisons if c.subject == "fast:fwd"]
    assert sorted((c.claims, c.status) for c in fast) == [(("other",), "regression"), (("speed",), "unchanged")]
    assert report.exit_code == 1


def _with_accuracy(path: Path, accuracies: list[float]) -> dict:
    r = reading.load(path)
    r["measurements"].append({"claim": "precise", "case": {"task": "digits"}, "subject": {"model": "kan"},
                              "metric": "accuracy", "unit": "fraction", "better": "higher", "noise": "seeds",
                              "role": "candidate", "status": "ok", "samples": accuracies,
                              "groups": list(range(len(accuracies))), "summary": {}, "extra": {},
                              "reason": None, "device_independent": True})
    return r


def test_an_accuracy_three_times_worse_fails_and_a_rerun_passes(tmp_path: Path) -> None:
    good = [0.91, 0.93, 0.92, 0.90, 0.94]
    base = _with_accuracy(make_result(tmp_path / "a", seed=1), good)
    rerun = _with_accuracy(make_result(tmp_path / "b", seed=2), [0.92, 0.92, 0.93, 0.90, 0.93])
    worse = _with_accuracy(make_result(tmp_path / "c", seed=3), [a / 3 for a in good])
    assert gate.compare(base, rerun).exit_code == 0
    report = gate.compare(base, worse)
    (c,) = [c for c in report.comparisons if c.metric == "accuracy"]
    assert c.status == "regression" and c.ratio == pytest.approx(1 / 3) and report.exit_code == 1
    better = _with_accuracy(make_result(tmp_path / "d", seed=4), [min(1.0, a * 1.05) for a in good])
    (up,) = [c for c in gate.compare(base, better).comparisons if c.metric == "accuracy"]
    assert up.status in ("improvement", "unchanged")


def _seeded(path: Path, values: list[float], seeds: list[int] | None = None, better: str = "higher") -> dict:
    r = _with_accuracy(path, values)
    r["measurements"][-1].update(groups=seeds if seeds is not None else list(range(len(values))), better=better)
    return r


def _only(report: gate.GateReport, metric: str) -> gate_metrics.Comparison:
    (c,) = [c for c in report.comparisons if c.metric == metric]
    return c


def test_seeds_are_paired_by_seed_not_by_position(tmp_path: Path) -> None:
    base = _seeded(make_result(tmp_path / "a", seed=1), [0.5, 0.6, 0.7, 0.8, 0.9])
    shuffled = _seeded(make_result(tmp_path / "b", seed=2), [0.9 / 1.5, 0.5 / 1.5, 0.7 / 1.5, 0.6 / 1.5, 0.8 / 1.5],
                       seeds=[4, 0, 2, 1, 3])  # each seed 1.5x worse, listed in another order
    c = _only(gate.compare(base, shuffled), "accuracy")
    assert c.ratio == pytest.approx(1 / 1.5) and c.low == pytest.approx(1 / 1.5) and c.high == pytest.approx(1 / 1.5)
    assert c.status == "regression" and c.claims == ("precise",) and c.subject == "kan" and c.noise == "seeds"
    assert c.baseline == pytest.approx(0.6853, abs=1e-4) and c.candidate == pytest.approx(0.6853 / 1.5, abs=1e-4)


@pytest.mark.parametrize(("factor", "status", "code"), [(0.90, "regression", 1), (0.97, "unchanged", 0),
                                                        (1.10, "improvement", 0)])
def test_a_seeded_higher_is_better_metric_is_judged_in_its_direction(tmp_path: Path, factor: float, status: str,
                                                                      code: int) -> None:
    values = [0.80, 0.82, 0.84, 0.86, 0.88]
    base = _seeded(make_result(tmp_path / "a", seed=1), values)
    cand = _seeded(make_result(tmp_path / "b", seed=2), [v * factor * (1 + 1e-4 * i) for i, v in enumerate(values)])
    report = gate.compare(base, cand)
    assert _only(report, "accuracy").status == status and report.exit_code == code


@pytest.mark.parametrize(("seeds", "values", "why"), [([0, 7, 8, 9, 10], [0.8] * 5, "1 seed(s) in common"),
                                                       ([0, 1, 2, 3, 4], [0.8, 0.0, 0.8, 0.8, 0.8], "above 0")])
def test_seeds_that_cannot_be_paired_cannot_be_judged(tmp_path: Path, seeds: list[int], values: list[float],
                                                      why: str) -> None:
    base = _seeded(make_result(tmp_path / "a", seed=1), [0.8, 0.82, 0.84, 0.86, 0.88])
    cand = _seeded(make_result(tmp_path / "b", seed=2), values, seeds=seeds)
    report = gate.compare(base, cand)
    c = _only(report, "accuracy")
    assert c.status == "underpowered" and why in c.reason and report.exit_code == 2
    assert c.baseline == pytest.approx(0.84) and c.candidate == pytest.approx(0.8) and c.low is None


def test_a_seeded_error_that_improves_is_an_improvement(tmp_path: Path) -> None:
    report = _compare(tmp_path, error_scale=0.3)
    c = _only(report, "rel_err_dA")
    assert c.status == "improvement" and c.ratio == pytest.approx(0.3, rel=0.03) and report.exit_code == 0
    assert c.tolerance == 0.05 and c.p_value is not None and c.p_value < 0.01


@pytest.mark.parametrize(("better", "base_value", "cand_value", "ratio", "status"), [
    ("lower", 1e9, 2e9, 2.0, "regression"), ("higher", 1e9, 2e9, 2.0, "improvement"),
    ("higher", 1e9, 0.0, 0.0, "regression"), ("lower", 0.0, 5.0, math.inf, "regression"),
    ("none", 1e9, 1e9, 1.0, "unchanged"), ("lower", 1e9, 1e9 * (1 + 1e-15), 1.0, "regression")])
def test_an_exact_metric_is_compared_exactly_in_its_direction(tmp_path: Path, better: str, base_value: float,
                                                               cand_value: float, ratio: float, status: str) -> None:
    base = reading.load(make_result(tmp_path / "a", seed=1, flops=base_value))
    cand = reading.load(make_result(tmp_path / "b", seed=2, flops=cand_value))
    for r in (base, cand):
        next(m for m in r["measurements"] if m["noise"] == "exact")["better"] = better
    c = _only(gate.compare(base, cand), "flops")
    assert c.status == status and c.ratio == pytest.approx(ratio) and c.low == c.high == c.ratio
    assert c.tolerance == 0.0 and c.p_value is None and c.claims == ("flops",)
    assert (c.baseline, c.candidate) == (base_value, cand_value)
    assert c.subject == "kat[torch_reference]" and c.case == "size=tiny batch=1"  # the kind's default spelled out


@pytest.mark.parametrize(("scale", "status"), [(0.8, "regression"), (1.25, "improvement"), (1.0, "unchanged")])
def test_a_timed_rate_where_higher_is_better_turns_the_judgement_round(tmp_path: Path, scale: float,
                                                                       status: str) -> None:
    base = reading.load(make_result(tmp_path / "a", seed=1))
    cand = reading.load(make_result(tmp_path / "b", seed=2, scale=scale))
    for r in (base, cand):
        for m in r["measurements"]:
            m["better"] = "higher" if m["noise"] == "timing" else m["better"]
    assert _status(gate.compare(base, cand), "time_ms") == {status}


def test_a_speedup_that_is_not_shown_is_ambiguous(tmp_path: Path) -> None:
    base = reading.load(make_result(tmp_path / "a", seed=1, rounds=4))
    cand = reading.load(make_result(tmp_path / "b", seed=2, rounds=4))
    for m in cand["measurements"]:  # rounds at x1, x1, x1/4, x1/4: faster on average, not significantly
        if m["noise"] == "timing":
            m["samples"] = [x * (1, 1, 0.25, 0.25)[g] for x, g in zip(m["samples"], m["groups"], strict=True)]
    report = gate.compare(base, cand)
    assert _status(report, "time_ms") == {"ambiguous"} and report.exit_code == 0


def test_three_rounds_a_side_are_enough_to_judge(tmp_path: Path) -> None:
    report = _compare(tmp_path, base={"rounds": 3}, rounds=3, scale=1.5)
    assert _status(report, "time_ms") == {"regression"} and report.exit_code == 1
    short = _compare(tmp_path / "short", base={"rounds": 3}, rounds=2, scale=1.5)
    assert _status(short, "time_ms") == {"underpowered"}


def test_rejected_and_failed_measurements_are_not_compared(tmp_path: Path) -> None:
    base = reading.load(make_result(tmp_path / "a", seed=1))
    cand = reading.load(make_result(tmp_path / "b", seed=2))
    timing = cand["measurements"][0]
    cand["measurements"][:0] = [dict(timing, role="rejected", samples=[s * 3 for s in timing["samples"]]),
                                dict(timing, status="error", samples=[s * 3 for s in timing["samples"]])]
    report = gate.compare(base, cand)
    assert report.exit_code == 0 and _status(report, "time_ms") == {"unchanged"}


def test_one_baseline_timing_is_matched_to_the_candidate_timing_of_its_claim(tmp_path: Path) -> None:
    base = reading.load(make_result(tmp_path / "a", seed=1))
    cand = reading.load(make_result(tmp_path / "b", seed=2))
    first = cand["measurements"][0]
    cand["measurements"].insert(0, dict(first, claim="other", samples=[s * 3 for s in first["samples"]]))
    fast = [c for c in gate.compare(base, cand).comparisons if c.subject == "fast:fwd"]
    assert [(c.claims, c.status) for c in fast] == [(("speed",), "unchanged")]


def test_version_differences_are_noted_and_equal_thresholds_are_not(tmp_path: Path) -> None:
    base = reading.load(make_result(tmp_path / "a", seed=1))
    cand = reading.load(make_result(tmp_path / "b", seed=2))
    cand["env"]["torch"] = "2.12"
    base["thresholds"] = cand["thresholds"] = {"speed": 0.2}
    report = gate.compare(base, cand)
    assert report.notes == ["torch differs: 2.11 (baseline) vs 2.12 (candidate)"]
    assert report.device == "NVIDIA H100 80GB HBM3" and report.candidate.endswith(".json")


def test_a_flip_names_the_claim_and_both_verdicts(tmp_path: Path) -> None:
    report = _compare(tmp_path, verdict="inconclusive")
    assert report.flips == [gate.Flip("speed", "reproduced", "inconclusive")]


def test_two_sides_of_one_family_are_compared_side_by_side(tmp_path: Path) -> None:
    """A matched claim's sides can share model and implementation and differ only in `arch`: halving
    one side's accuracy must be seen, not compared with the other side."""
    def sides(path: Path, scale: float) -> dict:
        r = reading.load(path)
        for role, groups, acc in (("baseline", 0, 0.90), ("candidate", 8, 0.89)):
            r["measurements"].append({
                "claim": "grouped", "case": {"task": "digits"}, "metric": "accuracy", "unit": "fraction",
                "subject": {"model": "kat", "impl": "torch_reference", "arch": {"rational_groups": groups}},
                "better": "higher", "noise": "seeds", "role": role, "status": "ok", "groups": [0, 1, 2, 3, 4],
                "samples": [acc * (scale if role == "candidate" else 1) * (1 + 0.01 * i) for i in range(5)],
                "summary": {}, "extra": {}, "reason": None, "device_independent": True})
        return r

    report = gate.compare(sides(make_result(tmp_path / "a", seed=1), 1.0),
                          sides(make_result(tmp_path / "b", seed=2), 0.5))
    accuracy = {c.subject: c.status for c in report.comparisons if c.metric == "accuracy"}
    assert accuracy == {"kat[torch_reference] {rational_groups=0}": "unchanged",
                        "kat[torch_reference] {rational_groups=8}": "regression"}
    assert report.exit_code == 1


@pytest.mark.parametrize(("ratio", "better", "status"), [(1.2, "lower", "suspect"), (1 / 1.2, "higher", "suspect"),
                                                        (1 / 1.2, "lower", "ambiguous"), (1.2, "higher", "ambiguous")])
def test_a_lax_alpha_still_needs_the_interval_beyond_one(ratio: float, better: str, status: str) -> None:
    """With alpha 0.5 a p of about 0.3 is "significant", but the 95% interval still reaches 1: no
    regression (and no improvement) is shown."""
    from kbench import stats

    est = stats.Estimate._build(math.log(ratio), 0.15, 3.0, "log", 4)
    assert est.p_value < 0.5 and est.low < 1 < est.high  # type: ignore[operator]
    assert gate_metrics.judge_change(est, ratio, better, 0.05, 0.5)[0] == status
    assert gate_metrics.judge_change(est, ratio, better, 0.05, 0.5, noise=0.0)[0] == status


def test_a_speedup_inside_its_95_interval_but_not_at_alpha_is_ambiguous(tmp_path: Path) -> None:
    report = gate.compare(reading.load(make_result(tmp_path / "a", seed=1, round_noise=0.02)),
                          reading.load(make_result(tmp_path / "b", seed=2, scale=0.8, round_noise=0.02)), alpha=1e-12)
    timing = [c for c in report.comparisons if c.noise == "timing"]
    assert all(c.high < 1 and c.p_value >= 1e-12 for c in timing) and {c.status for c in timing} == {"ambiguous"}
    slower = gate.compare(reading.load(make_result(tmp_path / "c", seed=1, round_noise=0.02)),
                          reading.load(make_result(tmp_path / "d", seed=2, scale=1.25, round_noise=0.02)), alpha=1e-12)
    assert _status(slower, "time_ms") == {"suspect"} and slower.exit_code == 2
    assert all(c.reason == gate_metrics.NOT_SIGNIFICANT for c in slower.comparisons if c.noise == "timing")


def test_the_baselines_spread_is_reported_and_sets_the_noise_bar(tmp_path: Path) -> None:
    import numpy as np

    base = reading.load(make_result(tmp_path / "a", seed=1, rounds=3, round_noise=0.2))
    cand = reading.load(make_result(tmp_path / "b", seed=2, rounds=3, round_noise=0.001, scale=1.3))
    report = gate.compare(base, cand)
    for c in (c for c in report.comparisons if c.noise == "timing"):
        m = next(m for m in base["measurements"] if m["metric"] == "time_ms" and c.subject.startswith(
            m["subject"]["impl"]))
        rounds = [np.median([s for s, g in zip(m["samples"], m["groups"], strict=True) if g == r]) for r in range(3)]
        assert c.spread == pytest.approx(float(np.std(np.log(rounds), ddof=1)))
        assert c.baseline == pytest.approx(float(np.exp(np.mean(np.log(rounds)))))


def test_two_common_seeds_are_enough_and_a_zero_baseline_is_not(tmp_path: Path) -> None:
    base = _seeded(make_result(tmp_path / "a", seed=1), [0.8, 0.82])
    cand = _seeded(make_result(tmp_path / "b", seed=2), [0.4, 0.41])
    c = _only(gate.compare(base, cand), "accuracy")
    assert c.status != "underpowered" and c.ratio == pytest.approx(0.5, rel=0.02) and c.tolerance == 0.05
    zero = _seeded(make_result(tmp_path / "c", seed=1), [0.0, 0.82])
    z = _only(gate.compare(zero, cand), "accuracy")
    assert z.status == "underpowered" and math.isnan(z.ratio) and z.tolerance == 0.05
    assert z.case == "task=digits dtype=float32"  # filed under a max-error claim: its kind's default dtype


def test_one_timing_shared_by_two_claims_is_compared_once_under_both(tmp_path: Path) -> None:
    base = reading.load(make_result(tmp_path / "a", seed=1))
    cand = reading.load(make_result(tmp_path / "b", seed=2))
    for r in (base, cand):
        r["measurements"].append(dict(r["measurements"][0], claim="other"))
        r["verdicts"].append(dict(r["verdicts"][0], claim="other"))
    fast = [c for c in gate.compare(base, cand).comparisons if c.subject == "fast:fwd"]
    assert [c.claims for c in fast] == [("speed", "other")]


def test_a_claim_whose_timing_the_candidate_lacks_is_missing(tmp_path: Path) -> None:
    base = reading.load(make_result(tmp_path / "a", seed=1))
    cand = reading.load(make_result(tmp_path / "b", seed=2))
    first = base["measurements"][0]
    base["measurements"].append(dict(first, claim="other", samples=[s * 1.5 for s in first["samples"]]))
    base["verdicts"].append(dict(base["verdicts"][0], claim="other"))
    report = gate.compare(base, cand)
    assert "metric time_ms / fast:fwd / 128x197x768 dtype=float32 of claim other" in report.missing
    assert [c.claims for c in report.comparisons if c.subject == "fast:fwd"] == [("speed",)]


def test_a_large_unshown_change_of_a_share_is_unchanged(tmp_path: Path) -> None:
    base = reading.load(make_result(tmp_path / "a", seed=1, rounds=4))
    cand = reading.load(make_result(tmp_path / "b", seed=2, rounds=4))
    for r in (base, cand):
        for m in r["measurements"]:
            m["better"] = "none" if m["noise"] == "timing" else m["better"]
    for m in cand["measurements"]:  # rounds at x1, x1, x4, x4: moved on average, not significantly
        if m["noise"] == "timing":
            m["samples"] = [x * (1, 1, 4, 4)[g] for x, g in zip(m["samples"], m["groups"], strict=True)]
    assert _status(gate.compare(base, cand), "time_ms") == {"unchanged"}


@pytest.mark.parametrize("side", ["baseline", "candidate"])
def test_the_interrupted_side_is_named(tmp_path: Path, side: str) -> None:
    runs = {"baseline": reading.load(make_result(tmp_path / "a", seed=1)),
            "candidate": reading.load(make_result(tmp_path / "b", seed=2))}
    runs[side]["interrupted"] = True
    with pytest.raises(gate.GateInputError, match=f"the {side} run was interrupted"):
        gate.compare(runs["baseline"], runs["candidate"])


@pytest.mark.parametrize("package", ["torch", "triton", "cuda", "driver"])
def test_each_version_that_differs_is_noted(tmp_path: Path, package: str) -> None:
    base = reading.load(make_result(tmp_path / "a", seed=1))
    cand = reading.load(make_result(tmp_path / "b", seed=2))
    cand["env"][package] = "9.9"
    assert gate.compare(base, cand).notes == [f"{package} differs: {base['env'].get(package)} (baseline) vs 9.9 "
                                              "(candidate)"]


def test_cases_match_by_meaning_not_label_text(tmp_path: Path) -> None:
    base = reading.load(make_result(tmp_path / "a", seed=1))
    cand = reading.load(make_result(tmp_path / "b", seed=2))
    flops = next(m for m in cand["measurements"] if m["metric"] == "flops")
    flops["case"] = {"size": "tiny", "batch": 1, "label": "KAT-T, renamed"}  # a default spelled out, a new label
    report = gate.compare(base, cand)
    assert not report.missing and _only(report, "flops").status == "unchanged"
    flops["case"] = {"size": "tiny", "batch": 2}  # another batch is another case
    assert any("flops" in m for m in gate.compare(base, cand).missing)


def test_every_verdict_change_and_a_change_of_timing_method_is_said(tmp_path: Path) -> None:
    base = reading.load(make_result(tmp_path / "a", seed=1))
    cand = reading.load(make_result(tmp_path / "b", seed=2))
    base["verdicts"][2]["verdict"] = "inconclusive"  # flops: inconclusive -> reproduced
    for m in cand["measurements"]:
        if m["metric"] == "time_ms":
            m["extra"]["timing"] = "eager"
    report = gate.compare(base, cand)
    assert "claim flops: verdict inconclusive -> reproduced" in report.notes
    assert sum("timed by cuda-graph in the baseline and by eager" in n for n in report.notes) == 2
    assert report.exit_code == 0  # said, not failed


def test_runs_of_another_suite_or_another_budget_cannot_be_judged(tmp_path: Path) -> None:
    from kbench import gate as gate_module

    base = reading.load(make_result(tmp_path / "a", seed=1))
    other = reading.load(make_result(tmp_path / "b", seed=2, suite="other"))
    with pytest.raises(gate_module.GateInputError, match="suite 'toy'"):
        gate_module.compare(base, other)
    quick = reading.load(make_result(tmp_path / "c", seed=3))
    quick["plan"]["budget"] = 0.25
    with pytest.raises(gate_module.GateInputError, match="budget"):
        gate_module.compare(base, quick)


def test_a_run_without_a_recorded_budget_ran_at_the_full_budget(tmp_path: Path) -> None:
    base = reading.load(make_result(tmp_path / "a", seed=1))
    cand = reading.load(make_result(tmp_path / "b", seed=2))
    base["plan"].pop("budget", None)
    cand["plan"]["budget"] = 1.0
    assert gate.compare(base, cand).exit_code == 0
    cand["plan"]["budget"] = 0.5
    with pytest.raises(gate.GateInputError, match="the baseline ran at budget 1.0 and the candidate at 0.5"):
        gate.compare(base, cand)


def test_the_report_names_both_runs_and_both_devices(tmp_path: Path) -> None:
    base = reading.load(make_result(tmp_path / "a", seed=1))
    cand = reading.load(make_result(tmp_path / "b", seed=2, device="NVIDIA H200"))
    report = gate.compare(base, cand)
    assert (report.baseline, report.candidate) == (base["_path"], cand["_path"])
    assert report.notes[-1] == gate.OTHER_DEVICE.format(b="NVIDIA H100 80GB HBM3", c="NVIDIA H200")
    cand["env"] = {**cand["env"], "gpu": None}  # a device not recorded: unknown, never the same
    assert gate.compare(base, cand).notes[-1] == gate.OTHER_DEVICE.format(b="NVIDIA H100 80GB HBM3", c="unknown")
    assert gate.compare(cand, base).notes[-1] == gate.OTHER_DEVICE.format(b="unknown", c="NVIDIA H100 80GB HBM3")


def test_timings_by_different_methods_are_compared_with_a_note(tmp_path: Path) -> None:
    base = reading.load(make_result(tmp_path / "a", seed=1))
    cand = mark_timings(reading.load(make_result(tmp_path / "b", seed=2)), timing="cuda-synced")
    notes = [n for n in gate.compare(base, cand).notes if "timed by" in n]
    assert len(notes) == 2 and notes[0].endswith(
        "timed by cuda-graph in the baseline and by cuda-synced in the candidate; the two methods measure "
        "different things (launch overhead or not), so part of any difference is the method's")


# --- one metric's status, at the edges of each rule --------------------------------------------

def test_a_change_exactly_at_the_threshold_is_unchanged_and_a_regression_must_exceed_the_noise() -> None:
    classify = gate_metrics._classify
    assert classify(0.05, True, True, False, 0.05) == "unchanged"
    assert classify(-0.05, True, False, True, 0.05) == "unchanged"
    assert classify(0.0501, True, True, False, 0.05) == "regression"  # no noise given: none to exceed
    assert classify(0.2, True, True, False, 0.05, noise=0.2) == "suspect"  # exactly the noise: not beyond it
    assert classify(0.2, True, True, False, 0.05, noise=0.19) == "regression"
    assert classify(-0.2, True, False, True, 0.05) == "improvement"
    assert classify(-0.2, False, False, True, 0.05) == "ambiguous"


def _estimate(low: float, high: float) -> Any:
    from kbench.stats import Estimate

    return Estimate(math.sqrt(low * high), low, high, "log", 0.05, 10.0, 11)


def test_an_interval_that_touches_one_is_not_beyond_it() -> None:
    judge = gate_metrics.judge_change
    est = _estimate(1.0, 1.3)  # reaches 1 exactly: the candidate is not shown slower
    status, reason = judge(est, 1.15, "lower", 0.05, 1.0)
    assert status == "suspect" and reason == gate_metrics.NOT_SIGNIFICANT
    status, _ = judge(_estimate(1.001, 1.3), 1.15, "lower", 0.05, 1.0)
    assert status == "regression"
    assert judge(_estimate(0.7, 1.0), 0.85, "lower", 0.05, 1.0)[0] == "ambiguous"  # not shown faster either
    assert judge(_estimate(0.7, 0.999), 0.85, "lower", 0.05, 1.0) == ("improvement", "")
    assert judge(_estimate(0.7, 1.0), 0.85, "higher", 0.05, 1.0)[0] == "suspect"  # higher is better: worse
    assert judge(_estimate(1.0, 1.3), 1.15, "higher", 0.05, 1.0)[0] == "ambiguous"


def test_a_p_value_equal_to_alpha_is_not_significant() -> None:
    est = _estimate(1.1, 1.3)
    assert gate_metrics.judge_change(est, 1.2, "lower", 0.05, est.p_value)[0] == "suspect"
    assert gate_metrics.judge_change(est, 1.2, "lower", 0.05, est.p_value * 1.0001)[0] == "regression"
    assert gate_metrics.judge_change(est, 1.2, "none", 0.05, est.p_value * 1.0001) == ("changed", "")
    assert gate_metrics.judge_change(est, 1.2, "none", 0.05, est.p_value) == ("unchanged", "")


def _seed_metric(values: list[float], better: str = "lower") -> dict[str, Any]:
    return {"noise": "seeds", "better": better, "samples": values, "groups": list(range(len(values)))}


def test_metric_comparisons_give_their_reasons() -> None:
    key = ("rel_err", "fast", "case")
    same = gate_metrics.compare_metric(key, _seed_metric([1.0, 2.0]), _seed_metric([1.0, 2.0]), ("c",), 0.05, 0.01)
    assert same.status == "unchanged" and same.reason == ""
    noisy = gate_metrics.compare_metric(key, _seed_metric([1.0, 2.0, 1.5]), _seed_metric([1.3, 2.0, 2.4]), ("c",),
                                        0.05, 0.01)
    assert noisy.status == "suspect" and noisy.reason == gate_metrics.NOT_SIGNIFICANT
    exact = {"noise": "exact", "better": "lower", "samples": [3.0], "groups": None}
    assert gate_metrics.compare_metric(key, exact, exact, ("c",), 0.05, 0.01).reason == ""
    few = {"noise": "timing", "better": "lower", "samples": [1.0, 1.1, 1.0, 1.2], "groups": [0, 0, 1, 1]}
    more = {**few, "samples": few["samples"] + [1.0, 1.1], "groups": [0, 0, 1, 1, 2, 2]}
    under = gate_metrics.compare_metric(key, few, more, ("c",), 0.05, 0.01)
    assert under.status == "underpowered" and under.reason == gate_metrics.FEW_ROUNDS.format(b=2, c=3, n=3)


def test_timings_taken_in_an_emulation_are_said_to_be(tmp_path: Path) -> None:
    base = reading.load(make_result(tmp_path / "a", seed=1))
    cand = mark_timings(reading.load(make_result(tmp_path / "b", seed=2)),
                        emulated="Triton's interpreter (TRITON_INTERPRET=1)")
    notes = [n for n in gate.compare(base, cand).notes if "emulation" in n]
    assert len(notes) == 2 and "(native in the baseline, Triton's interpreter (TRITON_INTERPRET=1) in the " \
                               "candidate)" in notes[0]
    assert not [n for n in gate.compare(base, base).notes if "emulation" in n]
