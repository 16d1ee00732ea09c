"""What a newcomer meets first: one environment for every nox session, expected run times said
before a run starts, and a pytest-benchmark bridge that says why it collected nothing."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

from kbench import estimate, pytest_bench

ROOT = Path(__file__).resolve().parents[1]


def _run(folder: Path, run_id: str, gpu: str, claims: dict[str, float] | None, replicates: int = 2,
         interrupted: bool = False) -> None:
    (folder / f"{run_id}.json").write_text(json.dumps({
        "run_id": run_id, "env": {"gpu": gpu, "git_commit": "abcdef123"}, "created": "2026-01-01T00:00:00+00:00",
        "finished": "2026-01-01T00:10:00+00:00", "interrupted": interrupted,
        "plan": {"claims": list(claims or {"a": 0, "b": 0}), "replicates": replicates,
                 **({"claim_seconds": claims} if claims else {})}}))


def test_the_expected_time_comes_from_the_latest_finished_run_on_the_same_device(tmp_path: Path) -> None:
    folder = tmp_path / "toy"
    folder.mkdir()
    _run(folder, "20260101T000000Z-cpu-1", "cpu", {"a": 60.0, "b": 120.0})
    _run(folder, "20260102T000000Z-gpu-1", "NVIDIA H200", {"a": 5.0, "b": 7.0})
    _run(folder, "20260103T000000Z-cpu-2", "cpu", {"a": 600.0, "b": 600.0}, interrupted=True)  # not a duration
    line = estimate.expected(str(tmp_path), "toy", ["a", "b"], "cpu", 2)
    assert "about 3 min" in line and "20260101T000000Z-cpu-1" in line and "abcdef1" in line
    assert "about 60 s" in estimate.expected(str(tmp_path), "toy", ["a"], "cpu", 2)
    assert "about 12 s" in estimate.expected(str(tmp_path), "toy", ["a", "b"], "NVIDIA H200", 2)
    assert "1 replicate" not in line and "with 2 replicate(s)" in estimate.expected(str(tmp_path), "toy", ["a"],
                                                                                      "cpu", 3)
    assert "unknown" in estimate.expected(str(tmp_path), "toy", ["c"], "cpu", 2)
    assert "unknown" in estimate.expected(str(tmp_path), "other", ["a"], "cpu", 2)


def test_a_run_without_per_claim_seconds_is_used_only_for_the_same_claims(tmp_path: Path) -> None:
    folder = tmp_path / "toy"
    folder.mkdir()
    _run(folder, "20260101T000000Z-cpu-1", "cpu", None)  # an older file: the whole run's 10 minutes
    assert "about 10 min" in estimate.expected(str(tmp_path), "toy", ["a", "b"], "cpu", 2)
    assert "unknown" in estimate.expected(str(tmp_path), "toy", ["a"], "cpu", 2)


def test_the_bridge_says_why_it_collects_no_timing_on_a_cpu() -> None:
    reason = pytest_bench.why_none(str(ROOT / "suites" / "grkan-kernels.toml"), torch.device("cpu"))
    assert "can run on cpu" in reason and "CUDA" in reason
    assert pytest_bench.collect(str(ROOT / "suites" / "grkan-kernels.toml"), torch.device("cpu")) == []


def test_nox_sessions_share_one_environment_and_install_only_what_is_missing() -> None:
    pytest.importorskip("nox")
    sys.path.insert(0, str(ROOT))
    try:
        import noxfile
    finally:
        sys.path.remove(str(ROOT))
    import nox

    assert nox.options.default_venv_backend == "none"  # never a fresh venv per session
    test_reqs = noxfile._requirements(("test",))
    assert "pytest>=8" in test_reqs and "submitit>=1.5" in test_reqs and "torch>=2.4" in test_reqs  # nested extras
    assert not any(r.startswith("kbench") for r in test_reqs)
    assert noxfile._missing(["pytest>=8", "no-such-distribution-kbench>=1"]) == ["no-such-distribution-kbench>=1"]
    assert "python3 -m venv .venv" in noxfile.MANAGED


def test_building_the_command_line_never_imports_triton() -> None:
    import subprocess

    code = "import sys, kbench.cli as c; c._parser(); print('triton' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "False"  # `kbench run` chooses the device (and Triton's interpreter) first
