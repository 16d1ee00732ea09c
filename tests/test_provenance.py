"""The source digest: recorded with a run, checked against a tree or a commit by anyone."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from kbench import provenance
from kbench.errors import KbenchError


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    for path, text in {"kbench/a.py": "x = 1\n", "kernels/k/b.cu": "// kernel\n", "kernels/k/notes.txt": "no",
                       "suites/s.toml": "schema_version = 2\n"}.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run([*git, "add", "."], cwd=tmp_path, check=True)
    subprocess.run([*git, "commit", "-qm", "one"], cwd=tmp_path, check=True)
    return tmp_path


def test_the_digest_covers_sources_and_the_suite(tree: Path) -> None:
    rec = provenance.record(str(tree / "suites/s.toml"), tree)
    assert sorted(rec["files"]) == ["kbench/a.py", "kernels/k/b.cu", "suites/s.toml"]  # not the .txt
    assert rec["digest"] == provenance.digest(rec["files"])


def test_verify_against_the_tree_and_a_commit(tree: Path) -> None:
    rec = provenance.record(str(tree / "suites/s.toml"), tree)
    assert provenance.verify(rec, None, tree) == (True, [])
    assert provenance.verify(rec, "HEAD", tree) == (True, [])
    (tree / "kernels/k/b.cu").write_text("// changed\n")
    assert provenance.verify(rec, None, tree) == (False, ["kernels/k/b.cu"])
    assert provenance.verify(rec, "HEAD", tree) == (True, [])  # the commit still holds what ran
    (tree / "kbench/new.py").write_text("")
    assert "kbench/new.py" in provenance.verify(rec, None, tree)[1]


def test_verify_needs_a_recorded_digest_and_a_real_commit(tree: Path) -> None:
    with pytest.raises(KbenchError, match="no source digest"):
        provenance.verify({}, None, tree)
    rec = provenance.record(str(tree / "suites/s.toml"), tree)
    with pytest.raises(KbenchError, match="cannot read commit"):
        provenance.verify(rec, "no-such-commit", tree)
