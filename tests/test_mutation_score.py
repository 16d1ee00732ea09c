"""The mutation score is counted honestly: a timeout is not a kill; equivalent mutants are named."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path
from typing import get_args

import pytest

from kbench import verdicts
from kbench.results import VERDICTS, VerdictName

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import mutation_score  # noqa: E402


def test_a_timeout_counts_against_the_score_and_equivalents_are_left_out() -> None:
    line, score = mutation_score.row("m", Counter({"killed": 8, "timeout": 1, "survived": 1, "equivalent": 5}))
    assert score == pytest.approx(0.8) and line.split()[1:5] == ["8", "1", "1", "5"]
    assert mutation_score.row("m", Counter({"killed": 9, "timeout": 1}))[1] == pytest.approx(0.9)
    assert "timeout" not in mutation_score.KILLED


@pytest.mark.parametrize(("code", "status"), [(1, "killed"), (0, "survived"), (33, "no tests"), (-24, "timeout"),
                                              (-9, "timeout"), (36, "timeout"), (None, "not run"), (37, "unclear")])
def test_each_exit_code_has_an_honest_status(code: int | None, status: str) -> None:
    assert mutation_score.status(code) == status
    assert (status in mutation_score.KILLED) == (status == "killed")


def test_a_module_with_mutants_not_run_is_marked_partial(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    meta = tmp_path / "kbench" / "m.py.meta"
    meta.parent.mkdir()
    meta.write_text('{"exit_code_by_key": {"a": 1, "b": 0, "c": null, "d": -9}}')
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mutation-equivalent.toml").write_text('[mutants]\nb = "changes nothing"\n')
    counts = mutation_score.tally(tmp_path)["kbench/m.py"]
    assert counts == Counter({"killed": 1, "equivalent": 1, "not run": 1, "timeout": 1})
    line, score = mutation_score.row("kbench/m.py", counts)
    assert line.endswith("(partial)") and score == pytest.approx(0.5)


def test_every_verdict_name_is_one_the_closed_type_allows() -> None:
    """A verdict's name is a closed type (results.VerdictName): no branch can return a name that does not
    exist (the non-finite interval's verdict is tested in test_verdicts)."""
    assert set(get_args(VerdictName)) == set(VERDICTS) == set(verdicts.SEVERITY)
