"""The regression gate on synthetic result files: each noise model, direction and refusal."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kbench import cli, gate, results
from tests.synthetic import make_result


def _compare(tmp_path: Path, base: dict | None = None, **candidate: object) -> gate.GateReport:
    b = make_result(tmp_path / "a", seed=1, **(base or {}))  # type: ignore[arg-type]
    c = make_result(tmp_path / "b", seed=2, **candidate)  # type: ignore[arg-type]
    return gate.compare(results.load(b), results.load(c))


def _status(report: gate.GateReport, metric: str) -> set[str]:
    return {c.status for c in report.comparisons if c.metric == metric}


def test_identical_runs_pass(tmp_path: Path) -> None:
    report = _compare(tmp_path)
    assert report.exit_code == 0 and not report.regressions and not report.missing
    assert {c.status for c in report.comparisons} == {"unchanged"}
    assert "## kbench gate: PASS" in gate.markdown(report)


def test_ten_percent_slowdown_with_tight_rounds_fails(tmp_path: Path) -> None:
    report = _compare(tmp_path, scale=1.10)
    assert report.exit_code == 1 and len(report.regressions) == 2
    r = report.regressions[0]
    assert r.ratio == pytest.approx(1.10, rel=0.01) and r.low > 1.05 and r.p_value < 0.01
    text = gate.markdown(report)
    assert "FAIL" in text and "### Regressions" in text and "fast:fwd" in text


def test_a_slowdown_inside_the_baselines_own_noise_cannot_be_judged(tmp_path: Path) -> None:
    report = _compare(tmp_path, base={"round_noise": 0.08}, scale=1.10, round_noise=0.08)
    timing = [c for c in report.comparisons if c.noise == "timing"]
    assert {c.status for c in timing} == {"suspect"} and all(c.tolerance == 0.05 for c in timing)
    assert report.exit_code == 2 and report.verdict == "CANNOT JUDGE"  # neither a pass nor a regression
    assert "(suspect)" in gate.markdown(report)


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
    base = results.load(make_result(tmp_path / "a", seed=1, rounds=4))
    cand = results.load(make_result(tmp_path / "b", seed=2, rounds=4))
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
    assert "needs 3" in gate.markdown(report)


def test_five_against_three_samples_of_one_round_cannot_pass(tmp_path: Path) -> None:
    report = _compare(tmp_path, base={"rounds": 1, "n": 5}, rounds=1, n=3, scale=1.5)
    assert report.exit_code == 2


def test_a_seeded_error_regression_fails_and_is_paired_by_seed(tmp_path: Path) -> None:
    report = _compare(tmp_path, error_scale=3.0)
    (c,) = [c for c in report.comparisons if c.noise == "seeds"]
    assert c.status == "regression" and c.ratio == pytest.approx(3.0)
    assert report.exit_code == 1


def test_an_exact_metric_that_changes_is_reported(tmp_path: Path) -> None:
    report = _compare(tmp_path, flops=2e9)
    (c,) = [c for c in report.comparisons if c.noise == "exact"]
    assert c.status == "changed" and c.ratio == pytest.approx(2.0)


@pytest.mark.parametrize("after", ["not-reproduced", "inconclusive", "error", "skipped"])
def test_a_reproduced_claim_that_is_no_longer_reproduced_fails(tmp_path: Path, after: str) -> None:
    report = _compare(tmp_path, verdict=after)
    assert report.exit_code == 1 and report.flips[0].after == after
    assert "### Verdict changes" in gate.markdown(report)


def test_a_claim_or_metric_missing_from_the_candidate_fails(tmp_path: Path) -> None:
    base = results.load(make_result(tmp_path / "a", seed=1))
    cand = results.load(make_result(tmp_path / "b", seed=2))
    cand["verdicts"] = []
    cand["measurements"] = cand["measurements"][1:]
    report = gate.compare(base, cand)
    assert report.exit_code == 1
    assert "claim speed" in report.missing and any(m.startswith("metric time_ms / fast:fwd") for m in report.missing)


def test_per_claim_threshold_from_the_baseline(tmp_path: Path) -> None:
    base = results.load(make_result(tmp_path / "a", seed=1))
    cand = results.load(make_result(tmp_path / "b", seed=2, scale=1.10))
    base["thresholds"] = {"speed": 0.2}  # a claim's max_slowdown, recorded by the runner
    assert gate.compare(base, cand).exit_code == 0


def test_a_candidate_cannot_loosen_its_own_threshold(tmp_path: Path) -> None:
    base = results.load(make_result(tmp_path / "a", seed=1))
    cand = results.load(make_result(tmp_path / "b", seed=2, scale=1.5))
    cand["thresholds"] = {"speed": 0.9}
    report = gate.compare(base, cand)
    assert report.exit_code == 1 and any("the baseline's is used" in n for n in report.notes)


def test_an_interrupted_run_is_not_a_candidate(tmp_path: Path) -> None:
    base = results.load(make_result(tmp_path / "a", seed=1))
    cand = results.load(make_result(tmp_path / "b", seed=2))
    cand["interrupted"] = True
    with pytest.raises(gate.GateInputError, match="interrupted"):
        gate.compare(base, cand)


def test_different_devices_compare_only_device_independent_metrics(tmp_path: Path) -> None:
    report = _compare(tmp_path, device="cpu", scale=3.0)
    assert [c.metric for c in report.comparisons] == ["flops"] and not report.flips
    assert report.exit_code == 0 and any("different devices" in n for n in report.notes)
    report = _compare(tmp_path / "x", device="cpu", flops=5e9)
    assert [c.status for c in report.comparisons] == ["changed"]


def test_a_timed_share_has_no_better_direction_so_it_changes_but_never_regresses(tmp_path: Path) -> None:
    base = results.load(make_result(tmp_path / "a", seed=1))
    cand = results.load(make_result(tmp_path / "b", seed=2, scale=1.5))
    for r in (base, cand):
        for m in r["measurements"]:
            m["better"] = "none" if m["noise"] == "timing" else m["better"]
    report = gate.compare(base, cand)
    assert _status(report, "time_ms") == {"changed"} and not report.regressions
    same = gate.compare(base, results.load(make_result(tmp_path / "c", seed=3)) | {"measurements": [
        {**m, "better": "none"} for m in results.load(make_result(tmp_path / "d", seed=3))["measurements"]]})
    assert _status(same, "time_ms") == {"unchanged"}


def test_cpus_of_other_models_are_other_devices(tmp_path: Path) -> None:
    base = results.load(make_result(tmp_path / "a", seed=1, device="cpu"))
    cand = results.load(make_result(tmp_path / "b", seed=2, device="cpu", scale=2.0))
    base["env"].update(cpu="Intel Xeon 8480", cpu_count=2)
    cand["env"].update(cpu="AMD EPYC 9654", cpu_count=2)
    report = gate.compare(base, cand)
    assert [c.metric for c in report.comparisons] == ["flops"] and report.exit_code == 0
    cand["env"].update(cpu="Intel Xeon 8480")
    assert gate.compare(base, cand).exit_code == 1  # the same processor: timings compared, 2x slower fails


def test_nothing_in_common_exits_2(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    base = results.load(make_result(tmp_path / "a", seed=1))
    cand = results.load(make_result(tmp_path / "b", seed=2))
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
    base = results.load(root / "results" / "baselines" / "nvidia-h100-80gb-hbm3.json")
    report = gate.compare(base, base)
    assert report.exit_code == 2 and report.underpowered


def test_two_timings_of_one_kernel_under_two_claims_are_both_compared(tmp_path: Path) -> None:
    """Merged shards can hold two timings of the same kernel and case, one per claim: a slowdown of
    either one must be seen."""
    base = results.load(make_result(tmp_path / "a", seed=1))
    cand = results.load(make_result(tmp_path / "b", seed=2))
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
    r = results.load(path)
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
