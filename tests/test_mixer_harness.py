"""What the sequence-mixer papers need of the harness, on toy operations (tests/fixtures/toy_mixers):
a speedup whose sides compute different operations, each checked against its own reference; cases
outside an implementation's declared limits skipped, not failed; forward-only operations."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from kbench import runner, suite
from kbench.errors import SuiteError

HEAD = """
schema_version = 2
[paper]
id = "mixers"
title = "Toy mixers"
"""


def speedup(baseline: str, candidate: str, cases: str = '[{ shape = [32, 8], dtype = "float32" }]',
            op: str = "toy_scale", pass_: str = "fwd+bwd") -> str:
    return f"""
[[claims]]
id = "c"
kind = "speedup"
quote = "q"
operation = "{op}"
baseline = {{ {baseline}, pass = "{pass_}" }}
candidate = {{ {candidate}, pass = "{pass_}" }}
cases = {cases}
rule = {{ at_least = 0.01 }}
"""


def run(tmp_path: Path, text: str) -> runner.Result:
    path = tmp_path / "mixers.toml"
    path.write_text(HEAD + text)
    return runner.run(suite.load(path), runner.RunOptions(device=torch.device("cpu"), quick=True))


def test_each_side_is_checked_against_its_own_operations_reference(tmp_path: Path) -> None:
    result = run(tmp_path, speedup('impl = "good"', 'operation = "toy_square", impl = "good"'))
    (v,) = result.verdicts
    assert v.verdict != "error" and v.measured is not None, v.reason
    ops = {m.subject["impl"]: m.extra["checks_before"] for m in result.measurements if m.metric == "time_ms"}
    assert len(ops) == 1 or all(c for c in ops.values())  # both sides checked before timing
    # 2x is right for toy_scale, wrong for toy_square: checked against toy_square's reference, refused
    wrong = run(tmp_path, speedup('impl = "good"', 'operation = "toy_square", impl = "scales"'))
    assert wrong.verdicts[0].verdict == "error" and "scales" in (wrong.verdicts[0].reason or "")
    assert "wrong against float64" in (wrong.verdicts[0].reason or "")
    # and the other way round: toy_square's right answer on the baseline's operation
    other = run(tmp_path, speedup('operation = "toy_square", impl = "good"', 'impl = "good"'))
    assert other.verdicts[0].verdict != "error", other.verdicts[0].reason


@pytest.mark.parametrize(("candidate", "field", "expected"), [
    ('operation = "toy_nothing", impl = "good"', "claims[0].candidate.operation", "an operation under kernels/"),
    ('operation = "toy_square", impl = "narrow_only"', "claims[0].candidate.impl", "an implementation of 'toy_square'"),
])
def test_a_sides_operation_and_implementation_are_checked_by_name(tmp_path: Path, candidate: str, field: str,
                                                                  expected: str) -> None:
    path = tmp_path / "mixers.toml"
    path.write_text(HEAD + speedup('impl = "good"', candidate))
    with pytest.raises(SuiteError) as exc:
        suite.load(path)
    assert field in str(exc.value) and expected in str(exc.value)


def test_a_case_outside_an_implementations_limits_is_skipped_and_the_rest_judged(tmp_path: Path) -> None:
    cases = '[{ shape = [32, 8], dtype = "float32", label = "narrow" }, { shape = [32, 32], dtype = "float32", ' \
            'label = "wide" }]'
    result = run(tmp_path, speedup('impl = "good"', 'impl = "narrow_only"', cases=cases))
    (v,) = result.verdicts
    assert v.verdict not in ("error", "skipped") and [c["case"]["label"] for c in v.per_case] == ["narrow"]
    assert "case wide skipped: narrow_only: takes at most 16 channels" in v.notes
    wide = [m for m in result.measurements if m.case.get("label") == "wide"]
    assert {m.role for m in wide} == {"baseline", "candidate"}  # neither side timed on it
    assert all(m.status == "skipped" and m.extra["outside_limits"] == "narrow_only: takes at most 16 channels"
               for m in wide)


def test_a_claim_whose_every_case_is_outside_the_limits_is_skipped(tmp_path: Path) -> None:
    result = run(tmp_path, speedup('impl = "good"', 'impl = "narrow_only"',
                                   cases='[{ shape = [32, 32], dtype = "float32" }]'))
    (v,) = result.verdicts
    assert v.verdict == "skipped" and v.reason == ("not comparable: every case lies outside an implementation's "
                                                   "limits (case shape=[32, 32], dtype=float32 skipped: narrow_only: "
                                                   "takes at most 16 channels)")


def test_a_forward_only_operation_needs_no_gradient(tmp_path: Path) -> None:
    result = run(tmp_path, speedup('impl = "good"', 'impl = "good"', op="toy_forward", pass_="fwd"))
    (v,) = result.verdicts
    assert v.verdict != "error" and v.measured is not None, v.reason
    path = tmp_path / "backward.toml"
    path.write_text(HEAD + speedup('impl = "good"', 'impl = "good"', op="toy_forward", pass_="fwd+bwd"))
    with pytest.raises(SuiteError) as exc:
        suite.load(path)
    assert "claims[0].baseline.pass" in str(exc.value) and "forward only" in str(exc.value)
