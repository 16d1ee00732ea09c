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


def test_a_dtype_a_side_does_not_take_skips_that_case_only(tmp_path: Path) -> None:
    """narrow_only takes float32 only: its float64 case is left out with the reason (never computed
    in another dtype), and the float32 case is judged."""
    cases = '[{ shape = [32, 8], dtype = "float32", label = "fp32" }, { shape = [32, 8], dtype = "float64", ' \
            'label = "fp64" }]'
    (v,) = run(tmp_path, speedup('impl = "good"', 'impl = "narrow_only"', cases=cases)).verdicts
    assert v.verdict not in ("error", "skipped") and [c["case"]["label"] for c in v.per_case] == ["fp32"]
    assert "case fp64 skipped: narrow_only: does not take float64 inputs (takes float32)" in v.notes


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


def error_ratio(candidate: str, cases: str, op: str = "toy_scale", extra: str = "") -> str:
    return f"""
[[claims]]
id = "e"
kind = "error-ratio"
quote = "q"
operation = "{op}"
baseline = {{ impl = "good" }}
candidate = {{ impl = "{candidate}" }}
cases = {cases}
combine = "each"
options = {{ seeds = 2 }}
rule = {{ at_least = 0.001 }}
{extra}
"""


def test_every_kernel_kind_skips_only_the_cases_outside_the_limits(tmp_path: Path) -> None:
    cases = '[{ shape = [32, 8], dtype = "float32", label = "narrow" }, { shape = [32, 32], dtype = "float32", ' \
            'label = "wide" }]'
    text = error_ratio("narrow_only", cases).replace('kind = "error-ratio"', 'kind = "max-error"').replace(
        'baseline = { impl = "good" }\ncandidate = { impl = "narrow_only" }', 'subject = { impl = "narrow_only" }'
    ).replace("rule = { at_least = 0.001 }", "rule = { at_most = 0.001 }")
    (v,) = run(tmp_path, text).verdicts
    assert v.verdict == "reproduced" and {c["case"]["label"] for c in v.per_case} == {"narrow, y", "narrow, dx"}
    assert "case wide skipped: narrow_only: takes at most 16 channels" in v.notes


def test_a_forward_only_operations_error_is_its_outputs(tmp_path: Path) -> None:
    result = run(tmp_path, error_ratio("good", '[{ shape = [16, 8], dtype = "float32" }]', op="toy_forward"))
    assert {m.metric for m in result.measurements} == {"rel_err_y"}


def test_a_side_that_names_its_operation_is_named_by_it(tmp_path: Path) -> None:
    result = run(tmp_path, speedup('operation = "toy_square", impl = "good"', 'impl = "good"'))
    subjects = [m.subject for m in result.measurements if m.metric == "time_ms"]
    assert {"impl": "good", "pass": "fwd+bwd", "operation": "toy_square"} in subjects
    assert {"impl": "good", "pass": "fwd+bwd"} in subjects


def test_a_paper_case_outside_the_limits_is_named_when_nothing_else_has_the_papers_conditions(tmp_path: Path) -> None:
    cases = '[{ shape = [32, 8], dtype = "float32" }, { shape = [32, 32], dtype = "float32", paper_value = 2.0, ' \
            'label = "paper" }]'
    text = speedup('impl = "good"', 'impl = "narrow_only"', cases=cases).replace(
        "rule = { at_least = 0.01 }", "rule = { at_least = 0.5, of_paper = true }")
    (v,) = run(tmp_path, text).verdicts
    assert v.verdict == "inconclusive" and "case paper skipped: narrow_only: takes at most 16 channels" in (v.reason
                                                                                                       or "")


def test_merged_runs_keep_the_cases_left_out_for_limits(tmp_path: Path) -> None:
    from kbench import merge, reading, results

    cases = '[{ shape = [32, 8], dtype = "float32", label = "narrow" }, { shape = [32, 32], dtype = "float32", ' \
            'label = "wide" }]'
    files = []
    for seed in (1, 2):
        path = tmp_path / "mixers.toml"
        path.write_text(HEAD + speedup('impl = "good"', 'impl = "narrow_only"', cases=cases))
        r = runner.run(suite.load(path), runner.RunOptions(device=torch.device("cpu"), quick=True, seed=seed))
        files.append(results.write(r, tmp_path / "out"))
    merged = merge.merge([reading.load(f) for f in files])
    (v,) = merged.verdicts
    assert "case wide skipped: narrow_only: takes at most 16 channels" in v.notes
    assert [c["case"]["label"] for c in v.per_case] == ["narrow"]


def test_an_unknown_optional_dependency_group_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "extras.toml"
    path.write_text(HEAD.replace('title = "Toy mixers"', 'title = "Toy mixers"\nextras = ["nonexistent"]')
                    + speedup('impl = "good"', 'impl = "good"'))
    with pytest.raises(SuiteError) as exc:
        suite.load(path)
    assert "paper.extras" in str(exc.value) and "nonexistent" in str(exc.value) and "seqmix" in str(exc.value)


@pytest.mark.parametrize("field", ['layout = "transposed"', "sparsity = 0.5"])
def test_the_new_operations_refuse_case_fields_they_would_ignore(tmp_path: Path, field: str) -> None:
    path = tmp_path / "conv.toml"
    path.write_text(HEAD + speedup('impl = "torch_fft"', 'impl = "monarch_gemm"', op="long_conv",
                                   cases=f'[{{ shape = [1, 2, 8], dtype = "float32", {field} }}]'))
    with pytest.raises(SuiteError, match="operation 'long_conv'"):
        suite.load(path)
