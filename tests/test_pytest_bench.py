"""The pytest-benchmark bridge: a toy suite's kernel timings run as pytest-benchmark tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from kbench import pytest_bench
from tests.test_runner import HEAD, claim


def test_suite_cases_run_under_pytest_benchmark(tmp_path: Path, root: Path) -> None:
    suite = tmp_path / "toy.toml"
    suite.write_text(HEAD + claim("c", "good", "good") + claim("wrong", "good", "off_by_last"))
    plugin = tmp_path / "conftest.py"  # the toy operation lives in the tests package
    plugin.write_text("from tests.fixtures import toy_scale  # noqa: F401\n")
    (tmp_path / "test_bench.py").write_text((root / "benchmarks" / "test_suites.py").read_text())
    out = tmp_path / "bench.json"
    # a pytest of its own: not a worker of this run's xdist (pytest-benchmark turns itself off in one)
    outer = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env = {**outer, "KBENCH_SUITE": str(suite), "KBENCH_DEVICE": "cpu", "PYTHONPATH": str(root)}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path),
                           f"--benchmark-json={out}"], cwd=root, env=env, capture_output=True, text=True, timeout=300)
    assert "1 failed, 1 passed" in proc.stdout, proc.stdout + proc.stderr
    assert "off_by_last: wrong against float64" in proc.stdout
    data = json.loads(out.read_text())
    (bench,) = data["benchmarks"]
    assert bench["extra_info"]["kbench_impl"] == "good" and bench["stats"]["rounds"] == 20


def test_collect_deduplicates_shared_timings(tmp_path: Path) -> None:
    suite = tmp_path / "toy.toml"
    suite.write_text(HEAD + claim("a", "good", "good") + claim("b", "good", "zeros_only")
                     + claim("gpu", "good", "crashes", 'requires = ["cuda"]'))
    cases = pytest_bench.collect(str(suite), pytest_bench.torch.device("cpu"))
    assert sorted(c.id for c in cases) == ["good-fwd+bwd-64x8-float32", "zeros_only-fwd+bwd-64x8-float32"]
