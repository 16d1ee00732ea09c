"""The regression gate on synthetic result files."""

from __future__ import annotations

from pathlib import Path

import pytest

from kbench import cli, gate, results
from tests.synthetic import make_result


def _compare(tmp_path: Path, **candidate: object) -> gate.GateReport:
    base = make_result(tmp_path / "a", seed=1)
    cand = make_result(tmp_path / "b", seed=2, **candidate)  # type: ignore[arg-type]
    return gate.compare(results.load(base), results.load(cand))


def test_identical_runs_pass(tmp_path: Path) -> None:
    report = _compare(tmp_path)
    assert report.exit_code == 0 and not report.regressions
    assert {c.status for c in report.comparisons} == {"unchanged"}
    assert "## kbench gate: PASS" in gate.markdown(report)


def test_ten_percent_slowdown_with_tight_intervals_fails(tmp_path: Path) -> None:
    report = _compare(tmp_path, scale=1.10)
    assert report.exit_code == 1
    assert len(report.regressions) == 2
    r = report.regressions[0]
    assert r.ratio == pytest.approx(1.10, rel=0.01) and r.low > 1.05 and r.p_value < 0.01
    text = gate.markdown(report)
    assert "FAIL" in text and "### Regressions" in text and "fast:fwd" in text


def test_ten_percent_slowdown_inside_the_noise_passes(tmp_path: Path) -> None:
    report = _compare(tmp_path, scale=1.10, noise=0.6)
    assert report.exit_code == 0
    assert all(c.status in ("ambiguous", "unchanged") for c in report.comparisons)


def test_speedup_is_an_improvement_not_a_failure(tmp_path: Path) -> None:
    report = _compare(tmp_path, scale=0.8)
    assert report.exit_code == 0 and {c.status for c in report.comparisons} == {"improvement"}


def test_flipped_verdict_fails(tmp_path: Path) -> None:
    report = _compare(tmp_path, verdict="not-reproduced")
    assert report.exit_code == 1 and report.flips[0].after == "not-reproduced"
    assert "### Verdict flips" in gate.markdown(report)


def test_per_claim_threshold_from_the_suite(tmp_path: Path) -> None:
    base = results.load(make_result(tmp_path / "a", seed=1))
    cand = results.load(make_result(tmp_path / "b", seed=2, scale=1.10))
    cand["thresholds"] = {"speed": 0.2}  # a claim's max_slowdown, recorded by the runner
    assert gate.compare(base, cand).exit_code == 0


def test_different_devices_exit_2(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    base = make_result(tmp_path / "a", seed=1)
    cand = make_result(tmp_path / "b", seed=2, device="cpu")
    assert cli.main(["gate", str(base), str(cand)]) == 2
    assert "different devices" in capsys.readouterr().err


def test_nothing_in_common_exits_2(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    base = results.load(make_result(tmp_path / "a", seed=1))
    cand = results.load(make_result(tmp_path / "b", seed=2))
    cand["measurements"], cand["verdicts"] = [], []
    with pytest.raises(gate.GateInputError, match="nothing to compare"):
        gate.compare(base, cand)


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
