"""The law kinds end to end on models that train in seconds: suite checks, a run that writes and
re-reads its result, training shared between claims, the gate comparing fitted parameters."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import torch

from kbench import gate, gate_summary, judging, reading, report, results, runner, suite
from kbench.claims import Claim
from kbench.errors import SuiteError
from kbench.kinds import KINDS

HEAD = 'schema_version = 2\n[paper]\nid = "toy-law"\ntitle = "A toy law"\n'
LM = '{ model = "tiny-lm", size = "nano", arch = { act = "relu" } }'
TEXT_CASE = '{ task = "stdlib-text", points = [1024, 2048, 4096, 8192, 16384, 32768] }'
OPTIONS = 'quantity = "nonzero-fraction", seeds = 2, batch = 4, eval_sequences = 4, warmup = 2'


def claim(cid: str, options: str, *, kind: str = "law", sides: str = f"subject = {LM}", case: str = TEXT_CASE,
          rule: str = "{ at_most = 0.0 }") -> str:
    return (f'[[claims]]\nid = "{cid}"\nkind = "{kind}"\nquote = "q"\n{sides}\ncases = [{case}]\n'
            f"options = {{ {options} }}\nrule = {rule}\n")


def write(tmp_path: Path, *claims: str) -> Path:
    path = tmp_path / "law.toml"
    path.write_text(HEAD + "\n".join(claims))
    return path


def run(path: Path, progress: list[str] | None = None) -> runner.Result:
    return runner.run(suite.load(path), runner.RunOptions(device=torch.device("cpu"),
                                                          progress=(progress.append if progress is not None
                                                                    else lambda m: None)))


def test_a_law_run_writes_points_per_seed_and_is_judged_the_same_when_read_back(tmp_path: Path) -> None:
    path = write(tmp_path,
                 claim("slope", f'{OPTIONS}, statistic = "slope", late = 1.0'),
                 claim("form", f'{OPTIONS}, statistic = "fit-advantage", form = "log", direction = "decreasing", '
                       'alternatives = ["linear"]',
                       rule="{ at_least = 1.0 }"),
                 claim("ratio", f'{OPTIONS}, statistic = "last"', kind="law-ratio", rule="{ at_least = 0.5 }",
                       sides=f'baseline = {LM}\ncandidate = {LM.replace("relu", "silu")}'))
    progress: list[str] = []
    result = run(path, progress)
    by_id = {v.claim: v for v in result.verdicts}
    assert {v.verdict for v in by_id.values()} <= {"reproduced", "not-reproduced", "inconclusive"}
    points = [m for m in result.measurements if m.claim == "slope"]
    assert len(points) == 6 and all(m.samples is not None and len(m.samples) == 2 and m.groups == [0, 1]
                                    for m in points)
    assert [m.extra["x"] for m in points] == [1024, 2048, 4096, 8192, 16384, 32768]  # 4 x 64 tokens a step
    assert all(m.extra["corpus"]["sha256"] and m.extra["law"]["statistic"] == "slope" for m in points)
    details = by_id["form"].per_case[0]["details"]
    assert details["fits"]["log"]["params"] and len(details["per_seed"]) == 2
    # the relu runs of the three claims are the same runs: trained once, reused twice
    assert sum("measured by an earlier claim" in p for p in progress) == 4
    assert [m.samples for m in points] == [m.samples for m in result.measurements
                                           if m.claim == "ratio" and m.role == "baseline"]
    loaded = reading.load(results.write(result, tmp_path / "results"))
    site = report.build(tmp_path / "results", tmp_path / "site", log=lambda m: None).parent
    drawn = sorted(p.name for p in (site / "img").glob("*.png"))
    assert drawn == ["toy-law--form.png", "toy-law--ratio.png", "toy-law--slope.png"]
    for v in loaded["verdicts"]:
        again = judging.judge(Claim.from_verdict(v, KINDS[v["kind"]].combine),
                              [m for m in loaded["measurements"] if m["claim"] == v["claim"]], {})
        assert (again.verdict, again.measured, again.interval) == (v["verdict"], v["measured"], v["interval"])


def test_the_activation_ratio_records_the_calibrated_cett_at_every_point(tmp_path: Path) -> None:
    options = ('quantity = "activation-ratio", seeds = 2, batch = 4, eval_sequences = 4, calibrate_last = 2, '
               'warmup = 2, statistic = "last"')
    result = run(write(tmp_path, claim("ratio", options, rule="{ at_most = 1.0 }")))
    (v,) = result.verdicts
    assert v.verdict == "reproduced" and 0 < v.measured < 1
    per_seed = [m.extra["per_seed"] for m in result.measurements]
    for seed in (0, 1):
        cetts = {p["cett"] for point in per_seed for p in point if p["seed"] == seed}
        assert len(cetts) == 1  # one CETT value per run, calibrated on its last checkpoints
    last_two = [p["ppl_ratio"] for point in per_seed[-2:] for p in point if p["seed"] == 0]
    assert sum(last_two) / 2 == pytest.approx(1.01, abs=2e-3)  # the calibration's target, on those checkpoints


def test_a_diverging_run_is_an_error_naming_the_seed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from kbench import sweeps

    real = sweeps._train

    def nan_at_second_checkpoint(model: Any, config: Any, per_step: int, points: Any, step: Any, at: Any) -> None:
        real(model, config, per_step, points, lambda i: step(i) * (math.nan if i > 8 else 1.0), at)

    monkeypatch.setattr(sweeps, "_train", nan_at_second_checkpoint)
    result = run(write(tmp_path, claim("slope", f'{OPTIONS}, statistic = "slope"')))
    (v,) = result.verdicts
    assert v.verdict == "error" and "seed 0" in (v.reason or "") and "became nan at step 9" in (v.reason or "")


def test_the_training_loop_stops_on_a_non_finite_loss() -> None:
    from kbench import sweeps

    model = torch.nn.Linear(2, 1)
    seen: list[int] = []
    with pytest.raises(FloatingPointError, match="at step 3"):
        sweeps._train(model, sweeps.SweepConfig(1, 0.1), 10, [10, 20, 30, 40],
                      lambda i: model(torch.ones(2)).sum() * (math.inf if i == 3 else 1.0),
                      lambda seen_so_far, m: seen.append(seen_so_far))
    assert seen == [10, 20]  # checkpoints before the failure were taken


@pytest.mark.parametrize(("options", "case", "field", "expected"), [
    (f'{OPTIONS}, statistic = "slope"', '{ task = "stdlib-text", points = [4096, 2048, 8192] }',
     "claims[0].cases[0].points", "strictly increasing"),
    (f'{OPTIONS}, statistic = "slope"', '{ task = "stdlib-text", points = [100, 200, 300] }',
     "claims[0].cases[0].points", "one step"),
    (f'{OPTIONS}, statistic = "fit-advantage", form = "log"', TEXT_CASE, "claims[0].options", "alternatives"),
    (f'{OPTIONS}, statistic = "param", form = "log", param = "alpha"', TEXT_CASE, "claims[0].options", "param"),
    (f'{OPTIONS}, statistic = "slope", sweep = "width"', '{ task = "stdlib-text", points = [32, 48, 64] }',
     "claims[0].cases[0].data", "sweep = width"),
    (f'{OPTIONS}, statistic = "slope", sweep = "width"',
     '{ task = "stdlib-text", points = [32, 48, 63], data = 4096 }', "claims[0].cases[0].points", "can build"),
    ('quantity = "activation-ratio", statistic = "slope"', '{ task = "digits", points = [64, 128, 256] }',
     "claims[0].cases[0].task", "perplexity"),
    (f'{OPTIONS}, statistic = "slope", labels = "random"', TEXT_CASE, "claims[0].options.labels", "real"),
    (f'{OPTIONS}, statistic = "slope"', '{ task = "digits", points = [64, 128, 256] }',
     "claims[0].subject.model", "an image model"),
    (f'{OPTIONS}, statistic = "slope"', '{ task = "nowhere", points = [64, 128, 256] }',
     "claims[0].cases[0].task", "stdlib-text or a kbench.data task"),
    (f'{OPTIONS}, statistic = "slope", alternatives = ["quadratic"]', TEXT_CASE, "claims[0].options", "alternatives"),
    (f'{OPTIONS}, statistic = "fit-advantage", form = "logspace-power", alternatives = ["log"], '
     'criterion = "extrapolation"', TEXT_CASE, "claims[0].options", "at least 7 points"),
    (f'{OPTIONS}, statistic = "fit-advantage", form = "log", alternatives = ["linear"]', TEXT_CASE,
     "claims[0].options.direction", "increasing or decreasing"),
    (f'{OPTIONS}, statistic = "slope", direction = "decreasing"', TEXT_CASE, "claims[0].options", "direction"),
    (f'{OPTIONS}, statistic = "fit-advantage", form = "log", alternatives = ["linear"], direction = "up"', TEXT_CASE,
     "claims[0].options.direction", "decreasing"),
    (f'{OPTIONS}, statistic = "slope"', '{ task = "stdlib-text", points = [1024, 2048, 4096], data = 8 }',
     "claims[0].cases[0].data", "no data"),
])
def test_a_law_claim_that_cannot_run_is_refused_naming_the_field(tmp_path: Path, options: str, case: str,
                                                                 field: str, expected: str) -> None:
    with pytest.raises(SuiteError) as info:
        suite.load(write(tmp_path, claim("c", options, case=case)))
    assert info.value.field == field and expected in str(info.value)


@pytest.mark.parametrize(("sides", "field", "expected"), [
    ('subject = { model = "tiny-lm", size = "nano", arch = { vocab = 2 } }', "claims[0].subject.arch.vocab",
     "at least 256"),
    ('subject = { model = "kat", impl = "torch_reference" }', "claims[0].subject.impl", "impl"),
    ('subject = { model = "kat" }', "claims[0].subject.model", "without a pluggable"),
    (f'baseline = {LM}\ncandidate = {{ model = "tiny-lm", size = "nano", arch = {{ heads = 3 }} }}',
     "claims[0].candidate.arch", "can build"),
])
def test_law_sides_that_cannot_run_are_refused(tmp_path: Path, sides: str, field: str, expected: str) -> None:
    kind = "law-ratio" if "baseline" in sides else "law"
    with pytest.raises(SuiteError) as info:
        suite.load(write(tmp_path, claim("c", f'{OPTIONS}, statistic = "last"', kind=kind, sides=sides)))
    assert info.value.field == field and expected in str(info.value)


def test_models_without_readable_ffns_and_operations_are_refused(tmp_path: Path) -> None:
    mlp = 'subject = { model = "mlp" }'
    with pytest.raises(SuiteError, match="FFN activations kbench can read"):
        suite.load(write(tmp_path, claim("c", f'{OPTIONS}, statistic = "last"', sides=mlp,
                                         case='{ task = "digits", points = [64, 128, 256] }')))
    text = claim("c", f'{OPTIONS}, statistic = "last"').replace('kind = "law"', 'kind = "law"\noperation = "rational"')
    with pytest.raises(SuiteError) as info:
        suite.load(write(tmp_path, text))
    assert info.value.field == "claims[0].operation" and "no operation" in str(info.value)
    width = claim("c", f'{OPTIONS}, statistic = "last", sweep = "width"',
                  sides='subject = { model = "tiny-lm", size = "nano", arch = { d_model = 32 } }',
                  case='{ task = "stdlib-text", points = [16, 32, 48], data = 4096 }')
    with pytest.raises(SuiteError) as info:
        suite.load(write(tmp_path, width))
    assert info.value.field == "claims[0].subject.arch.d_model"


def _law_file(tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    result = run(write(tmp_path, claim("slope", f'{OPTIONS}, statistic = "slope", form = "log"')))
    path = results.write(result, tmp_path / "results")
    return path, json.loads(path.read_text())


@pytest.mark.parametrize(("edit", "message"), [
    (lambda m: m["extra"].update(law={"statistic": "median"}), "extra.law.statistic"),
    (lambda m: m["extra"].update(law={"statistic": "slope", "form": "cubic"}), "extra.law.form"),
    (lambda m: m["extra"].update(law="slope"), "extra.law: expected an object"),
    (lambda m: m["extra"].update(x="big"), "extra.x"),
    (lambda m: m["extra"].pop("x"), "extra.x"),
    (lambda m: m["extra"].update(x=-4.0), "extra.x"),
])
def test_a_result_file_with_a_bad_law_point_is_refused_by_name(tmp_path: Path, edit: Any, message: str) -> None:
    path, data = _law_file(tmp_path)
    edit(data["measurements"][0])
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data))
    with pytest.raises(results.ResultError, match=message.replace(".", r"\.")):
        reading.load(bad)


def test_the_report_survives_hand_edited_law_details(tmp_path: Path) -> None:
    path, data = _law_file(tmp_path)
    data["verdicts"][0]["per_case"][0]["details"] = {"x": [0, "a"], "mean": [1], "fits": {"cubic": {"params": {}}}}
    data["run_id"] = data["run_id"][:-6] + "eeeeee"
    (path.parent / f"{data['run_id']}.json").write_text(json.dumps(data))
    index = report.build(tmp_path / "results", tmp_path / "site", log=lambda m: None)
    assert index.exists()


def _fit_comparisons(report: gate.GateReport) -> dict[str, Any]:
    return {c.metric: c for c in report.comparisons if c.noise == "fit"}


def test_the_gate_compares_fitted_parameters_and_flags_a_moved_exponent() -> None:
    from tests.test_laws import curve, law_measurements

    spec = {"statistic": "slope", "form": "power-convergent", "alternatives": ["log"]}
    env = {"device": "cpu", "cpu": "test cpu", "cpu_count": 2}

    def result(alpha: float) -> dict[str, Any]:
        ms = law_measurements(curve("power-convergent", (0.4, 0.1, alpha), seeds=4), spec)
        for m in ms:
            m["device_independent"] = True
        return {"suite": "toy", "run_id": f"r{alpha}", "env": env, "measurements": ms,
                "verdicts": [{"claim": "c", "verdict": "reproduced"}]}

    same = _fit_comparisons(gate.compare(result(0.5), result(0.5)))
    assert same and {c.status for c in same.values()} == {"unchanged"}
    moved = _fit_comparisons(gate.compare(result(0.5), result(1.5)))
    key = next(k for k in moved if k.startswith("fit power-convergent alpha"))
    assert moved[key].status == "changed" and moved[key].low > 0.5  # alpha rose by about 1
    assert json.dumps(gate_summary.markdown(gate.compare(result(0.5), result(1.5))))  # the summary renders
    flat = result(0.5)
    for m in flat["measurements"]:
        m["samples"] = [1.0] * len(m["samples"])  # a quantity that does not vary: no fit, no crash
    assert not _fit_comparisons(gate.compare(flat, flat))


def test_the_gate_fits_each_case_of_a_claim_on_its_own() -> None:
    from tests.test_laws import X, curve, law_measurements

    spec = {"statistic": "slope", "form": "log"}
    env = {"device": "cpu", "cpu": "test cpu", "cpu_count": 2}
    ms = []
    for task, c in (("a", 0.02), ("b", -0.05)):
        for m in law_measurements(curve("log", (0.3, c), seeds=3), spec, x=X):
            ms.append({**m, "case": {"task": task, "points": X.tolist()}, "device_independent": True})
    data = {"suite": "toy", "run_id": "r", "env": env, "measurements": ms,
            "verdicts": [{"claim": "c", "verdict": "reproduced"}]}
    slopes = [c for c in gate.compare(data, data).comparisons if c.metric.startswith("fit log c")]
    assert len(slopes) == 2 and len({c.case for c in slopes}) == 2  # one per case, not one sweep of both
    assert sorted(round(c.baseline, 2) for c in slopes) == [-0.05, 0.02]


def test_a_depth_sweep_builds_one_model_per_depth_against_its_parameter_count(tmp_path: Path) -> None:
    deep = claim("d", f'{OPTIONS}, statistic = "slope", late = 1.0, sweep = "depth"',
                 case='{ task = "stdlib-text", points = [1, 2, 3], data = 4096 }')
    result = run(write(tmp_path, deep))
    points = sorted((m for m in result.measurements if m.claim == "d"), key=lambda m: m.extra["x"])
    assert [[s["depth"] for s in m.extra["per_seed"]] for m in points] == [[1, 1], [2, 2], [3, 3]]
    xs = [m.extra["x"] for m in points]
    assert xs[0] < xs[1] < xs[2] and xs[2] - xs[1] == pytest.approx(xs[1] - xs[0])  # a block's parameters each
    assert all(m.extra["variable"] == "parameters" for m in points)
    fixed = deep.replace('arch = { act = "relu" }', 'arch = { act = "relu", depth = 2 }')
    with pytest.raises(SuiteError) as info:
        suite.load(write(tmp_path, fixed))
    assert info.value.field == "claims[0].subject.arch.depth"
    with pytest.raises(SuiteError, match="whole depths"):
        suite.load(write(tmp_path, deep.replace("points = [1, 2, 3]", "points = [1, 2.5, 3]")))


@pytest.mark.parametrize(("late", "windows"), [
    (0.5, [0.375, 0.5, 0.625, 0.75, 0.875, 1.0]),
    (0.55, [0.425, 0.55, 0.675, 0.8, 0.925, 1.0]),  # steps that do not land on 1: capped there
    (0.3, [0.25, 0.375, 0.5, 0.625, 0.75, 0.875, 1.0]),  # never below a quarter of the points
    (1.0, [0.875, 1.0]),
])
def test_a_slopes_default_neighbourhood_runs_from_just_below_its_window_to_every_point(
        late: float, windows: list[float]) -> None:
    from kbench.kinds._law_spec import default_windows, spec

    assert default_windows(late) == pytest.approx(windows)
    assert spec({"statistic": "slope", "late": late})["neighbourhood"] == {"late": pytest.approx(windows)}
    assert spec({"statistic": "slope"})["neighbourhood"] == {"late": pytest.approx(default_windows(0.5))}
    assert "neighbourhood" not in spec({"statistic": "last", "late": late})
    given = {"late": [0.5, 1.0]}
    assert spec({"statistic": "slope", "late": late, "neighbourhood": given})["neighbourhood"] == given
