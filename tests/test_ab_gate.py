"""CI's gate of a change against its merge base, both measured in one job (scripts/ab-gate.sh)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_a_change_gated_against_its_merge_base(root: Path, tmp_path: Path) -> None:
    if subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True).returncode != 0:
        pytest.skip("not a git checkout")
    env = {**os.environ, "OUT": str(tmp_path / "ab"), "PYTHON": sys.executable}
    proc = subprocess.run(["bash", "scripts/ab-gate.sh", "HEAD", "tests/fixtures/ab-gate.toml", "2", "--", "--device",
                           "cpu"], cwd=root, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    summary = (tmp_path / "ab" / "gate-summary.md").read_text()
    assert summary.startswith("## kbench gate: PASS") and "rel_err_y" in summary
    for side in ("base", "candidate"):
        assert len(list((tmp_path / "ab" / side / "ab-gate-toy").glob("*.json"))) == 2
        assert len(list((tmp_path / "ab" / "merged" / side / "ab-gate-toy").glob("*.json"))) == 1
    assert not (tmp_path / "ab" / "base-tree").exists()  # the worktree is removed afterwards
