"""The size-ratio kind (FlashRNN's "40x larger hidden sizes"): each side's largest size counts only
where it is accepted and right against float64; every size's outcome is kept; a side that took the
largest size tried leaves the ratio open in one direction."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from kbench import reading, results, runner, suite
from kbench.errors import SuiteError
from tests.fixtures import toy_mixers  # noqa: F401  (registers the toy operations)

SUITE = """schema_version = 2
[paper]
id = "sizes"
title = "sizes"
[[claims]]
id = "c"
kind = "size-ratio"
quote = "q"
operation = "toy_square"
baseline = { impl = "BASE" }
candidate = { impl = "CAND" }
cases = [{ shape = [3, 8], sizes = [8, 16, 32, 64, 128, 256] }]
rule = RULE
"""


def run(tmp_path: Path, base: str, cand: str, rule: str = "{ at_least = 2.0 }") -> dict[str, Any]:
    tmp_path.mkdir(exist_ok=True)
    path = tmp_path / "sizes.toml"
    path.write_text(SUITE.replace("BASE", base).replace("CAND", cand).replace("RULE", rule))
    result = runner.run(suite.load(path), runner.RunOptions(device=torch.device("cpu")))
    return reading.load(results.write(result, tmp_path / "results"))


def test_the_largest_size_counts_only_where_it_is_taken_and_right(tmp_path: Path) -> None:
    stored = run(tmp_path, "wrong_past_32", "crashes_past_128")
    (v,) = stored["verdicts"]
    assert v["measured"] == 4.0 and v["verdict"] == "reproduced"  # 128 / 32
    tried = {m["role"]: dict(m["extra"]["tried"]) for m in stored["measurements"]}
    assert tried["baseline"][32] == "ok" and tried["baseline"][64].startswith("wrong against float64")
    assert tried["candidate"][128] == "ok" and tried["candidate"][256].startswith("raised RuntimeError: too many")
    assert [m["samples"] for m in stored["measurements"]] == [[32.0], [128.0]]


def test_limits_stop_a_side_and_are_said(tmp_path: Path) -> None:
    stored = run(tmp_path, "up_to_64", "crashes_past_128", "{ at_least = 2.0, at_most = 2.0 }")
    (v,) = stored["verdicts"]
    assert v["measured"] == 2.0 and v["verdict"] == "reproduced"
    base = next(m for m in stored["measurements"] if m["role"] == "baseline")
    assert dict(base["extra"]["tried"])[128] == "outside its limits: up_to_64: takes at most 64 channels"


def test_a_side_at_the_largest_size_tried_leaves_the_ratio_open(tmp_path: Path) -> None:
    """The reference takes every size: as the baseline, the ratio is only an upper bound (an
    at_least rule cannot be met firmly); as the candidate, only a lower bound (at_most cannot)."""
    as_baseline = run(tmp_path / "b", "good", "crashes_past_128", "{ at_least = 0.1 }")["verdicts"][0]
    assert as_baseline["verdict"] == "inconclusive" and "baseline took the largest size" in as_baseline["reason"]
    as_candidate = run(tmp_path / "c", "up_to_64", "good", "{ at_most = 100.0 }")["verdicts"][0]
    assert as_candidate["verdict"] == "inconclusive" and "candidate took the largest size" in as_candidate["reason"]
    firm = run(tmp_path / "d", "up_to_64", "good", "{ at_least = 2.0 }")["verdicts"][0]
    assert firm["verdict"] == "reproduced" and firm["measured"] == 4.0  # a lower bound that already meets it
    short = run(tmp_path / "e", "up_to_64", "good", "{ at_least = 10.0 }")["verdicts"][0]
    assert short["verdict"] == "inconclusive" and "[4, inf]" in short["reason"]  # more sizes could reach 10
    upper = run(tmp_path / "f", "good", "crashes_past_128", "{ at_most = 0.1 }")["verdicts"][0]
    assert upper["verdict"] == "inconclusive" and "[0, 0.5]" in upper["reason"]
    never = run(tmp_path / "g", "good", "crashes_past_128", "{ at_least = 1.0 }")["verdicts"][0]
    assert never["verdict"] == "not-reproduced"  # at most 0.5 whatever the baseline takes beyond


@pytest.mark.parametrize(("old", "new", "field", "expected"), [
    ("sizes = [8, 16, 32, 64, 128, 256]", "sizes = [8, 32, 16]", "cases[0].sizes", "increasing"),
    ("sizes = [8, 16, 32, 64, 128, 256]", "sizes = [8]", "cases[0].sizes", "2 to 32"),
    ("rule = RULE", "rule = RULE\noptions = { along = 2 }", "cases[0].shape", "an axis 2"),
])
def test_a_size_sweep_that_cannot_be_tried_is_refused(tmp_path: Path, old: str, new: str, field: str,
                                                       expected: str) -> None:
    path = tmp_path / "sizes.toml"
    path.write_text(SUITE.replace(old, new).replace("BASE", "good").replace("CAND", "good").replace(
        "RULE", "{ at_least = 1.0 }"))
    with pytest.raises(SuiteError) as exc:
        suite.load(path)
    assert exc.value.field == f"claims[0].{field}" and expected in str(exc.value)


def test_no_size_above_a_wrong_answer_counts(tmp_path: Path) -> None:
    stored = run(tmp_path, "up_to_64", "wrong_at_64_only", "{ at_least = 0.1 }")
    cand = next(m for m in stored["measurements"] if m["role"] == "candidate")
    assert dict(cand["extra"]["tried"])[256] == "ok" and cand["samples"] == [32.0]  # right at 256, not credited
    assert stored["verdicts"][0]["measured"] == 0.5


def test_every_size_must_be_a_case_the_operation_takes(tmp_path: Path) -> None:
    path = tmp_path / "na.toml"
    path.write_text(SUITE.replace('operation = "toy_square"', 'operation = "neighborhood_attention"')
                    .replace("BASE", "gather").replace("CAND", "dense_masked").replace("RULE", "{ at_least = 1.0 }")
                    .replace("cases = [{ shape = [3, 8], sizes = [8, 16, 32, 64, 128, 256] }]",
                             "cases = [{ shape = [1, 16, 2, 8], window = 7, sizes = [4, 16] }]\n"
                             "options = { along = 1 }"))
    with pytest.raises(SuiteError) as exc:
        suite.load(path)
    assert exc.value.field == "claims[0].cases[0].sizes" and exc.value.got == 4
    assert "operation 'neighborhood_attention'" in str(exc.value)


def test_a_sides_measurement_and_the_verdicts_details_in_full(tmp_path: Path) -> None:
    stored = run(tmp_path, "up_to_64", "crashes_past_128", "{ at_least = 2.0 }")
    base, cand = (next(m for m in stored["measurements"] if m["role"] == r) for r in ("baseline", "candidate"))
    assert (cand["metric"], cand["unit"], cand["better"], cand["noise"], cand["status"]) == (
        "largest_size", "elements", "higher", "exact", "ok")
    assert cand["summary"] == {"median": 128.0} and cand["case"]["sizes"] == [8, 16, 32, 64, 128, 256]
    (v,) = stored["verdicts"]
    assert v["per_case"][0]["details"] == {"baseline_largest": 64.0, "candidate_largest": 128.0,
                                           "tried": {"baseline": base["extra"]["tried"],
                                                     "candidate": cand["extra"]["tried"]}}


def test_a_side_that_takes_no_size_is_skipped_naming_the_first(tmp_path: Path) -> None:
    path = tmp_path / "sizes.toml"
    path.write_text(SUITE.replace("BASE", "good").replace("CAND", "crashes_past_128")
                    .replace("RULE", "{ at_least = 1.0 }")
                    .replace("sizes = [8, 16, 32, 64, 128, 256]", "sizes = [256, 512]"))
    result = runner.run(suite.load(path), runner.RunOptions(device=torch.device("cpu")))
    cand = next(m for m in result.measurements if m.role == "candidate")
    assert cand.status == "skipped" and cand.samples == [] and cand.summary == {}
    assert cand.reason == ("took none of the sizes tried (raised RuntimeError: too many channels for this kernel at "
                           "256)")


def test_a_side_of_its_own_operation_is_tried_as_that_operation(tmp_path: Path) -> None:
    """The candidate computes toy_square though the claim's operation is toy_scale: checked against
    toy_square's reference at every size (toy_scale has no 'up_to_64')."""
    path = tmp_path / "sizes.toml"
    path.write_text(SUITE.replace('operation = "toy_square"', 'operation = "toy_scale"').replace("BASE", "good")
                    .replace('impl = "CAND"', 'operation = "toy_square", impl = "up_to_64"')
                    .replace("RULE", "{ at_most = 1.0 }"))
    stored = runner.run(suite.load(path), runner.RunOptions(device=torch.device("cpu")))
    (v,) = stored.verdicts
    assert v.verdict == "reproduced" and v.measured == 0.25  # 64 / 256, the baseline open above: still <= 1


@pytest.mark.parametrize(("rule", "verdict"), [
    ("{ at_least = 4.0 }", "reproduced"),        # the known ratio, 4, on the bound
    ("{ at_least = 1.0, at_most = 4.0 }", "inconclusive"),  # 4 or more: the upper bound is open
    ("{ at_most = 3.99 }", "not-reproduced"),    # at least 4 whatever lies beyond
    ("{ at_least = 0.9, of_paper = true }\npaper_value = 5.0", "inconclusive"),  # 4.5 in [4, inf)
])
def test_an_open_ratio_is_firm_only_where_the_rule_cannot_change(tmp_path: Path, rule: str, verdict: str) -> None:
    v = run(tmp_path, "up_to_64", "good", rule)["verdicts"][0]  # 256 / 64 = 4, the candidate open above
    assert v["verdict"] == verdict, v["reason"]


def test_a_case_paper_value_sets_the_bound_and_both_open_sides_are_named(tmp_path: Path) -> None:
    path = tmp_path / "sizes.toml"
    path.write_text(SUITE.replace("BASE", "good").replace("CAND", "good")
                    .replace("RULE", "{ at_least = 0.5, of_paper = true }")
                    .replace("sizes = [8, 16, 32, 64, 128, 256] }", "sizes = [8, 16], paper_value = 1.0 }"))
    (v,) = runner.run(suite.load(path), runner.RunOptions(device=torch.device("cpu"))).verdicts
    assert v.verdict == "inconclusive" and v.reason is not None
    assert "the baseline and candidate took the largest size tried (16)" in v.reason and "[0, inf]" in v.reason


def test_the_first_axis_from_the_end_is_an_axis(tmp_path: Path) -> None:
    path = tmp_path / "sizes.toml"
    path.write_text(SUITE.replace("BASE", "good").replace("CAND", "good").replace("RULE", "{ at_least = 1.0 }")
                    .replace("cases = [{ shape = [3, 8]", "options = { along = -2 }\ncases = [{ shape = [3, 8]"))
    assert suite.load(path).claims[0].options["along"] == -2
    path.write_text(path.read_text().replace("along = -2", "along = -3"))
    with pytest.raises(SuiteError, match="an axis -3"):
        suite.load(path)
    path.write_text(SUITE.replace("BASE", "good").replace("CAND", "good").replace("RULE", "{ at_least = 1.0 }")
                    + 'cpu_cases = [{ shape = [3, 8], sizes = [16, 8] }]\n')
    with pytest.raises(SuiteError) as exc:
        suite.load(path)
    assert exc.value.field == "claims[0].cpu_cases[0].sizes"
