"""The mutation score is counted honestly: a timeout is not a kill; equivalent mutants are named."""

from __future__ import annotations

import math
import sys
from collections import Counter
from pathlib import Path
from typing import get_args

import pytest

from kbench import verdicts
from kbench.results import VERDICTS, VerdictName
from kbench.stats import Estimate

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import mutation_score  # noqa: E402


def test_a_timeout_counts_against_the_score_and_equivalents_are_left_out() -> None:
    line, score = mutation_score.row("m", Counter({"killed": 8, "timeout": 1, "survived": 1, "equivalent": 5}))
    assert score == pytest.approx(0.8) and line.split()[1:5] == ["8", "1", "1", "5"]
    assert mutation_score.row("m", Counter({"killed": 9, "timeout": 1}))[1] == pytest.approx(0.9)
    assert "timeout" not in mutation_score.KILLED


@pytest.mark.parametrize("interval", [(-math.inf, 2.0), (1.0, math.inf), (math.nan, 2.0), (1.0, math.nan)])
def test_a_non_finite_interval_is_inconclusive_and_every_verdict_name_exists(interval: tuple[float, float]) -> None:
    est = Estimate(1.5, interval[0], interval[1], "linear", 0.1, 4.0, 5)
    verdict, reason = verdicts.decide(verdicts.Rule(at_least=1.0), est)
    assert verdict == "inconclusive" and reason and "not finite" in reason
    assert set(get_args(VerdictName)) == set(VERDICTS) == set(verdicts.SEVERITY)
