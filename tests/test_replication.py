"""Verdicts that survive a re-run by someone else: replicates under other master seeds, analysis
choices in a declared neighbourhood, tuning that finds an interior optimum, a busy host."""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import torch

from kbench import cotenancy, data, judging, law_records, reading, replicates, results, runner, stats, suite
from kbench.claims import Claim
from kbench.kinds import _law_spec, _matched_side
from kbench.kinds.base import Context, Failed
from kbench.verdicts import Rule

AT_LEAST_0 = Rule(at_least=0.0)
CASE = {"task": "digits"}


def accuracy(role: str, values: list[float], replicate: int | None, censored: str | None = None) -> dict[str, Any]:
    return {"claim": "c", "role": role, "metric": "accuracy", "case": CASE, "subject": {"model": role},
            "noise": "seeds", "samples": values, "groups": list(range(len(values))), "status": "ok",
            "unit": "fraction", "better": "higher", "replicate": replicate,
            "extra": {"tuning_censored": censored, "lr": 0.01}}


def replicate(seed: int, gain: float, spread: float = 0.002) -> list[dict[str, Any]]:
    """Five seeds where the candidate beats the baseline by `gain` (plus a little seed noise)."""
    rng = np.random.default_rng(seed)
    base = (0.90 + 0.01 * rng.standard_normal(5)).tolist()
    cand = [b + gain + spread * float(rng.standard_normal()) for b in base]
    return [accuracy("baseline", base, seed), accuracy("candidate", cand, seed)]


MATCHED = Claim("c", "matched-accuracy", AT_LEAST_0, combine="sampled-mean")


def test_an_effect_that_holds_under_two_master_seeds_in_three_is_not_reproduced() -> None:
    ms = replicate(11, +0.03) + replicate(22, +0.03) + replicate(33, -0.03)
    v = judging.judge(MATCHED, ms, {})
    assert v.verdict == "inconclusive" and v.reason and v.reason.startswith("does not replicate")
    own = {r["seed"]: r["verdict"] for r in v.robustness["replicates"]}
    assert own == {11: "reproduced", 22: "reproduced", 33: "not-reproduced"}
    assert "master seed 33" in v.reason and v.measured is not None  # the pooled value is still shown


def test_an_effect_every_replicate_shows_is_reproduced_and_pooled() -> None:
    ms = replicate(11, +0.03) + replicate(22, +0.05)
    v = judging.judge(MATCHED, ms, {})
    assert v.verdict == "reproduced" and [r["verdict"] for r in v.robustness["replicates"]] == ["reproduced"] * 2
    per_replicate = [r["measured"] for r in v.robustness["replicates"]]
    assert min(per_replicate) < v.measured < max(per_replicate)  # pooled: between the two
    swapped = [dict(m, role="candidate" if m["role"] == "baseline" else "baseline") for m in ms]
    assert judging.judge(MATCHED, swapped, {}).verdict == "not-reproduced"


def test_replicates_that_are_each_inconclusive_do_not_add_up_to_a_firm_verdict() -> None:
    base = [0.90, 0.91, 0.92, 0.90, 0.91]
    cand = [b + d for b, d in zip(base, [0.01, -0.002, 0.012, 0.0, 0.008], strict=True)]  # +0.0056, sd 0.006
    ms = [accuracy(role, values, seed) for seed in (1, 2, 3) for role, values in (("baseline", base),
                                                                                  ("candidate", cand))]
    v = judging.judge(MATCHED, ms, {})
    assert all(r["verdict"] == "inconclusive" for r in v.robustness["replicates"])
    assert v.verdict == "inconclusive" and v.interval is not None  # 15 seeds averaged would say reproduced ...
    for r in v.robustness["replicates"]:  # ... but the pooled interval covers every replicate's own
        assert v.interval[0] <= r["interval"][0] + 1e-12 and v.interval[1] >= r["interval"][1] - 1e-12


def test_a_pooled_interval_covers_replicates_that_disagree() -> None:
    v = judging.judge(MATCHED, replicate(11, +0.01, 0.001) + replicate(22, +0.05, 0.001), {})
    low, high = v.interval  # type: ignore[misc]
    for r in v.robustness["replicates"]:
        assert low <= r["interval"][0] + 1e-12 and high >= r["interval"][1] - 1e-12
    assert v.verdict == "reproduced"  # both replicates are firm the same way


def test_replicates_that_measured_different_cases_do_not_replicate() -> None:
    other = {"task": "wine"}
    extra = [dict(m, case=other) for m in replicate(11, +0.03)]
    v = judging.judge(MATCHED, replicate(11, +0.03) + extra + replicate(22, +0.03), {})
    assert v.verdict == "inconclusive" and "measured different cases" in (v.reason or "")


def test_one_replicate_says_that_replication_was_not_checked() -> None:
    v = judging.judge(MATCHED, replicate(11, +0.03), {})
    assert v.verdict == "reproduced" and any("one replicate (master seed 11)" in n for n in v.notes)


def test_collapsed_seeds_are_counted_by_the_stated_criterion_and_the_detectable_effect_is_stated() -> None:
    base, cand = [0.90, 0.91, 0.92, 0.90, 0.91], [0.95, 0.81, 0.96, 0.86, 0.95]
    v = judging.judge(MATCHED, [accuracy("baseline", base, 5), accuracy("candidate", cand, 5)], {})
    failures = v.per_case[0]["details"]["failures"]
    assert failures["candidate"] == {"collapsed": 2, "of": 5, "values": [0.81, 0.86]}
    assert failures["baseline"]["collapsed"] == 0 and "0.05" in failures["criterion"]
    assert any("collapsed on 2 of 5 seeds" in n for n in v.notes)
    detectable = v.per_case[0]["details"]["detectable"]
    diffs = np.subtract(cand, base)
    assert detectable["effect"] == pytest.approx(
        (2.776445 + 0.940965) * np.std(diffs, ddof=1) / math.sqrt(5), rel=1e-4)


def test_a_censored_tuning_blocks_a_firm_verdict_but_keeps_the_value() -> None:
    ms = replicate(11, +0.03)
    ms[0]["extra"]["tuning_censored"] = "mlp: the best learning rate 0.01 is the largest of the 6 tried"
    v = judging.judge(MATCHED, ms, {})
    assert v.verdict == "inconclusive" and v.reason and v.reason.startswith("tuning censored: mlp")
    assert v.measured == pytest.approx(judging.judge(MATCHED, replicate(11, +0.03), {}).measured)


# --- analysis choices ------------------------------------------------------------------------

X = [2.0**k for k in range(10, 18)]  # 8 checkpoints


def law_points(curve: list[float], hood: list[float] | None, late: float = 0.5) -> list[dict[str, Any]]:
    spec: dict[str, Any] = {"statistic": "slope", "late": late}
    if hood is not None:
        spec["neighbourhood"] = {"late": hood}
    ms = []
    for i, x in enumerate(X):
        values = [curve[i] + 0.0005 * s for s in (-1, 0, 1)]  # three seeds, the same shape
        ms.append({"claim": "law", "role": "subject", "metric": f"nonzero-fraction@{x:g}", "case": {"task": "t"},
                   "subject": {"model": "tiny-lm"}, "noise": "seeds", "samples": values, "groups": [0, 1, 2],
                   "status": "ok", "unit": "fraction", "better": "none", "extra": {"x": x, "law": spec}})
    return ms


FALLS_THEN_RISES = [0.50, 0.40, 0.30, 0.22, 0.20, 0.205, 0.21, 0.215]  # the later half rises slightly
LAW = Claim("law", "law", Rule(at_most=0.0), combine="each")


def test_a_window_that_flips_the_slope_makes_the_verdict_sensitive() -> None:
    declared_only = judging.judge(LAW, law_points(FALLS_THEN_RISES, None), {})
    assert declared_only.verdict == "not-reproduced"  # over the later half alone it rises
    v = judging.judge(LAW, law_points(FALLS_THEN_RISES, [0.5, 0.75, 1.0]), {})
    assert v.verdict == "inconclusive" and v.reason and v.reason.startswith("sensitive to late")
    tried = v.robustness["sensitivity"]
    assert tried["late=1.0"]["verdict"] == "reproduced" and tried["late=0.75"]["verdict"] == "reproduced"


def test_a_slope_every_window_agrees_on_stays_firm() -> None:
    falling = [0.5 - 0.04 * i for i in range(8)]
    v = judging.judge(LAW, law_points(falling, [0.25, 0.5, 0.75, 1.0]), {})
    assert v.verdict == "reproduced" and set(v.robustness["sensitivity"]) == {"late=0.25", "late=0.75", "late=1.0"}


def test_a_slope_claim_gets_a_window_neighbourhood_by_default() -> None:

    assert _law_spec.spec({"statistic": "slope", "late": 0.5})["neighbourhood"] == {
        "late": [0.375, 0.5, 0.625, 0.75, 0.875, 1.0]}
    assert "neighbourhood" not in _law_spec.spec({"statistic": "last"})


def law_suite(tmp_path: Path, points: str, options: str) -> Path:
    """A one-claim law suite on the nano language model, slope of the nonzero share."""
    path = tmp_path / "law.toml"
    path.write_text('schema_version = 2\n[paper]\nid = "p"\ntitle = "t"\n[[claims]]\nid = "l"\nkind = "law"\n'
                    'quote = "q"\nsubject = { model = "tiny-lm", size = "nano" }\n'
                    f'cases = [{{ task = "stdlib-text", points = {points} }}]\n'
                    f'options = {{ quantity = "nonzero-fraction", statistic = "slope", batch = 4, {options} }}\n'
                    'rule = { at_most = 0.0 }\n')
    return path


@pytest.mark.parametrize(("points", "options", "message"), [
    ("[1024, 2048, 4096]", "warmup = 2, neighbourhood = { late = [0.5, 2.0] }", "neighbourhood.late"),
    ("[1024, 2048, 8192]", "warmup = 8", "warm-up .8 steps = 2048 tokens"),  # a checkpoint inside the warm-up
])
def test_a_law_suite_with_a_bad_analysis_choice_is_refused(tmp_path: Path, points: str, options: str,
                                                           message: str) -> None:
    from kbench.errors import SuiteError

    with pytest.raises(SuiteError, match=message):
        suite.load(law_suite(tmp_path, points, options))


# --- tuning ------------------------------------------------------------------------------------

def side(curve: Any, grid: list[float], budget: int) -> _matched_side.Side:
    """A matched side whose validation score at each learning rate is `curve(lr)` (no training)."""
    s = object.__new__(_matched_side.Side)
    s.subject = SimpleNamespace(label="toy")
    s.case, s.ctx = CASE, SimpleNamespace(progress=lambda text: None)
    s.claim = SimpleNamespace(options={"lr_grid": grid, "tune_budget": budget})
    s.tuning, s.censored, s.lr = {}, None, 0.0
    s._try = lambda prepared, lr: s.tuning.__setitem__(f"{lr:g}", curve(lr))  # type: ignore[method-assign]
    return s


def peaked(at: float) -> Any:
    return lambda lr: 1.0 - (math.log10(lr) - math.log10(at)) ** 2


def test_a_score_still_rising_at_the_grid_edge_extends_the_grid_to_an_interior_optimum() -> None:
    s = side(peaked(0.3), [0.001, 0.003, 0.01], budget=8)
    s.tune(None, "higher")  # type: ignore[arg-type]
    assert s.censored is None and 0.1 < s.lr < 1.0
    tried = sorted(float(k) for k in s.tuning)
    assert tried[0] == 0.001 and tried[-1] > s.lr  # a rate past the optimum was tried: it is inside
    low = side(peaked(3e-5), [0.001, 0.003, 0.01], budget=8)
    low.tune(None, "higher")  # type: ignore[arg-type]
    assert low.censored is None and low.lr < 1e-4  # the other edge extends downwards


def test_a_budget_spent_at_the_edge_is_censored_and_says_so() -> None:
    s = side(peaked(0.3), [0.001, 0.003, 0.01], budget=4)
    s.tune(None, "higher")  # type: ignore[arg-type]
    assert len(s.tuning) == 4 and s.censored and "largest of the 4 tried" in s.censored
    lower = side(lambda lr: -peaked(0.3)(lr), [0.001, 0.003, 0.01], budget=8)  # an error: lower is better
    lower.tune(None, "lower")  # type: ignore[arg-type]
    assert lower.censored is None and 0.1 < lower.lr < 1.0


def test_a_plateau_at_the_edge_is_not_an_edge_and_every_rate_diverging_fails() -> None:
    flat = side(lambda lr: 0.9 if lr < 0.005 else 0.9005, [0.001, 0.003, 0.01], budget=8)
    flat.tune(None, "higher")  # type: ignore[arg-type]
    assert len(flat.tuning) == 3 and flat.censored is None and flat.lr == 0.01
    with pytest.raises(Failed, match="diverged at every learning rate"):
        side(lambda lr: math.nan, [0.001, 0.01], budget=4).tune(None, "higher")  # type: ignore[arg-type]


# --- the whole pipeline under master seeds -----------------------------------------------------

def test_master_seeds_start_at_the_run_seed_and_differ() -> None:
    seeds = replicates.master_seeds(7, 3)
    assert seeds[0] == 7 and len(set(seeds)) == 3 and all(0 <= s < 2**31 for s in seeds)


def test_the_run_seed_reaches_the_data_split() -> None:
    a, b = data.load("digits", 1), data.load("digits", 2)
    assert a.train.y.shape == b.train.y.shape and not np.array_equal(a.train.y, b.train.y)


def test_derived_seeds_differ_for_every_purpose_and_follow_the_run_seed() -> None:
    ctx = SimpleNamespace(seed=3)
    seed_for = lambda *parts: Context.seed_for(ctx, *parts)  # noqa: E731
    drawn = [seed_for("init", i) for i in range(2000)] + [seed_for("data", i) for i in range(2000)]
    assert len(set(drawn)) == len(drawn)  # "init|16" and "init|80" once shared a seed
    assert all(0 <= s < 2**31 for s in drawn) and seed_for("init", 16) == seed_for("init", 16)
    ctx.seed = 4
    assert seed_for("init", 16) != drawn[16]


MLP_CLAIM = '''
[[claims]]
id = "m"
kind = "matched-accuracy"
quote = "q"
baseline = { model = "mlp", arch = { depth = 0 } }
candidate = { model = "mlp", arch = { depth = 1, hidden = 16 } }
cases = [{ task = "digits" }]
options = { seeds = 4, epochs = 2, batch = 128, lr_grid = [0.01, 0.03], tune_budget = 2 }
rule = { at_least = -1.0 }
'''


def test_a_run_takes_each_replicate_under_its_own_master_seed_and_split(tmp_path: Path) -> None:
    path = tmp_path / "toy.toml"
    path.write_text('schema_version = 2\n[paper]\nid = "toy"\ntitle = "t"\n' + MLP_CLAIM)
    options = runner.RunOptions(device=torch.device("cpu"), quick=True, seed=5, replicates=2)
    result = runner.run(suite.load(path), options)
    masters = replicates.master_seeds(5, 2)
    assert result.plan["master_seeds"] == masters and result.plan["replicates"] == 2
    assert sorted({m.replicate for m in result.measurements}) == sorted(masters)
    splits = {m.replicate: m.extra["data"]["sha256"] for m in result.measurements if m.role == "baseline"}
    assert len(splits) == 2 and len(set(splits.values())) == 2  # each replicate its own split ...
    scores = {m.replicate: tuple(m.samples) for m in result.measurements if m.role == "baseline"}
    assert len(set(scores.values())) == 2  # ... and its own training draws
    (v,) = result.verdicts
    assert [r["seed"] for r in v.robustness["replicates"]] == masters
    read = reading.load(results.write(result, tmp_path / "results"))  # the schema keeps replicates apart
    assert judging.judge(suite.load(path).claims[0], read["measurements"],
                         {}).verdict == v.verdict


def test_submit_and_run_take_the_same_seed_options() -> None:
    from kbench.cli import _parser

    run_args = _parser().parse_args(["run", "s.toml", "--seed", "random", "--replicates", "3"])
    submit_args = _parser().parse_args(["submit", "s.toml", "--backend", "ray", "--seed", "9", "--replicates", "3"])
    assert 0 <= run_args.seed < 2**31 and run_args.replicates == 3
    assert (submit_args.seed, submit_args.replicates) == (9, 3)
    for bad in (["--seed", "-1"], ["--seed", "x"], ["--replicates", "0"], ["--replicates", "21"]):
        with pytest.raises(SystemExit) as info:
            _parser().parse_args(["run", "s.toml", *bad])
        assert info.value.code == 2


# --- a busy host -------------------------------------------------------------------------------

def fake_proc(root: Path, busy_ticks: int, own_ticks: int, running: int, own_running: int) -> Path:
    (root / "self" / "task").mkdir(parents=True, exist_ok=True)
    (root / "stat").write_text(f"cpu  {busy_ticks} 0 0 100000 0 0 0 0 0 0\ncpu0 1 2 3\nprocs_running {running}\n")
    (root / "self" / "stat").write_text(f"42 (py thon) R 1 2 3 4 5 6 7 8 9 10 {own_ticks} 0 0 0\n")
    for i in range(3):
        (root / "self" / "task" / str(i)).mkdir(exist_ok=True)
        (root / "self" / "task" / str(i) / "stat").write_text(f"4{i} (t) {'R' if i < own_running else 'S'} 1\n")
    return root


def test_a_host_where_others_take_cpu_time_is_busy(tmp_path: Path) -> None:
    proc = fake_proc(tmp_path, busy_ticks=1000, own_ticks=500, running=1, own_running=1)
    seconds = iter([0.0, 0.0, 1.0, 1.0])  # two looks, one second apart
    load = cotenancy.HostLoad(proc, sleep=lambda s: None, clock=lambda: next(seconds))
    assert load() == []  # the first look: nothing to compare with, nobody else runnable
    fake_proc(tmp_path, busy_ticks=1000 + 2 * load.ticks, own_ticks=500 + load.ticks, running=1, own_running=1)
    found = load()
    assert len(found) == 1 and "other processes took 1.00 cores" in found[0]


def test_a_host_where_only_this_process_works_is_not_busy(tmp_path: Path) -> None:
    proc = fake_proc(tmp_path, busy_ticks=1000, own_ticks=500, running=2, own_running=2)
    seconds = iter([0.0, 0.0, 1.0, 1.0, 2.0, 2.0])
    load = cotenancy.HostLoad(proc, sleep=lambda s: None, clock=lambda: next(seconds))
    load()
    fake_proc(tmp_path, busy_ticks=1000 + 2 * load.ticks, own_ticks=500 + 2 * load.ticks, running=2, own_running=2)
    assert load() == []
    fake_proc(tmp_path, busy_ticks=1000, own_ticks=500, running=3, own_running=2)
    assert "1 thread(s) of other processes runnable" in load()[0]


def test_a_busy_cpu_refuses_a_timing_verdict(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.test_runner import claim

    monkeypatch.setenv("KBENCH_HOST_CHECK", "on")
    busy = iter([[], ["host busy: other processes took 1.20 cores on average over the last 2.0 s"]] * 4)
    monkeypatch.setattr(cotenancy, "HostLoad", lambda proc: lambda: next(busy))
    path = tmp_path / "toy.toml"
    path.write_text('schema_version = 2\n[paper]\nid = "toy"\ntitle = "t"\n' + claim("c", "good", "good"))
    result = runner.run(suite.load(path), runner.RunOptions(device=torch.device("cpu"), quick=True))
    (v,) = result.verdicts
    assert v.verdict == "inconclusive" and "host busy" in (v.reason or "")
    assert result.env["cotenancy_check"] == "on"
    monkeypatch.setenv("KBENCH_HOST_CHECK", "off")
    assert cotenancy.checker(torch.device("cpu")) is None


def test_the_report_keeps_signed_values_linear_and_draws_each_sides_tuning_curve() -> None:
    import matplotlib.pyplot as plt

    from kbench.report import plots

    assert plots._use_log([0.5, 30.0]) and not plots._use_log([-0.03, 0.5, 30.0]) and not plots._use_log([1, 2])
    tuned = {"claim": "m", "role": "baseline", "case": CASE, "metric": "accuracy", "replicate": 3,
             "extra": {"tuning": {"0.001": 0.8, "0.01": 0.9}, "lr": 0.01, "tuning_censored": "at the edge"}}
    run = {"measurements": [tuned, dict(tuned, role="candidate", extra={**tuned["extra"], "tuning_censored": None})]}
    model = SimpleNamespace(latest_runs=lambda suite, claim: {"cpu": run})
    fig, ax = plt.subplots()
    plots._tuning_axis(ax, model, "s", "m")  # type: ignore[arg-type]
    curves = [line for line in ax.get_lines() if len(line.get_xdata()) == 2]
    assert [list(c.get_xdata()) for c in curves] == [[0.001, 0.01]] * 2 and ax.get_xscale() == "log"
    crosses = [line for line in ax.get_lines() if line.get_marker() == "x"]
    assert len(crosses) == 1 and list(crosses[0].get_xdata()) == [0.01]  # only the censored side
    assert ax.get_xlabel() == "learning rate" and "accuracy" in ax.get_ylabel()
    plt.close(fig)


def test_a_newer_interrupted_local_run_never_hides_committed_evidence(tmp_path: Path) -> None:
    from kbench.report import tables
    from tests.synthetic import make_result

    old = reading.load(make_result(tmp_path / "a", seed=1, created="2026-01-01T00:00:00"))
    new = reading.load(make_result(tmp_path / "b", seed=2, created="2026-01-02T00:00:00"))
    old["env"]["git_dirty"] = new["env"]["git_dirty"] = False
    new["interrupted"] = True
    for v in new["verdicts"]:
        v["verdict"] = "skipped"
    model = tables.build([old, new], [])
    shown = model.latest_verdict("toy", "speed", "NVIDIA H100 80GB HBM3")
    assert shown is not None and shown.verdict == "reproduced" and shown.run_id == old["run_id"]
    assert model.hidden_newer("toy", "speed", "NVIDIA H100 80GB HBM3", shown) == 1
    new["interrupted"] = False
    for v in new["verdicts"]:
        v["verdict"] = "not-reproduced"  # a newer finished clean run that judged it is shown
    assert tables.build([old, new], []).latest_verdict("toy", "speed", "NVIDIA H100 80GB HBM3").run_id == \
        new["run_id"]


def test_a_history_of_nearly_equal_values_is_drawn_on_an_honest_range() -> None:
    import matplotlib.pyplot as plt
    import pandas as pd

    from kbench.report import plots

    rows = pd.DataFrame({"measured": [10.0, 10.01], "low": [9.99, 10.0], "high": [10.01, 10.02]})
    fig, ax = plt.subplots()
    plots._honest_range(ax, rows)
    lo, hi = ax.get_ylim()
    assert hi - lo >= plots.MIN_SPAN * 10.02 and lo < 9.99 and hi > 10.02  # a 0.1% change is no cliff
    signed = pd.DataFrame({"measured": [-0.03, 0.02], "low": [-0.05, 0.0], "high": [-0.01, 0.04]})
    plots._honest_range(ax, signed)
    assert ax.get_ylim()[0] < -0.05 and ax.get_ylim()[1] > 0.04
    plt.close(fig)


def test_matched_pairs_are_pairs_and_pairing_narrows_a_correlated_interval() -> None:
    rng = np.random.default_rng(3)
    shared = rng.normal(0.9, 0.03, 6)  # seed-to-seed swings both sides share
    base, cand = shared.tolist(), (shared + 0.01 + rng.normal(0, 0.002, 6)).tolist()
    ms = [accuracy("baseline", base, 1), accuracy("candidate", cand, 1)]
    paired = judging.judge(MATCHED, ms, {})
    welch = stats.unpaired_log_ratio(cand, base)  # what ignoring the pairs would give (ratio scale)
    assert paired.verdict == "reproduced" and welch.low is not None and welch.low < 1.0  # unpaired cannot tell
    order = [3, 0, 5, 1, 4, 2]
    shuffled = [dict(m, samples=[m["samples"][i] for i in order], groups=[m["groups"][i] for i in order]) for m in ms]
    assert judging.judge(MATCHED, shuffled, {}).interval == pytest.approx(paired.interval)
    for m, seeds in zip(ms, ([10, 11, 12, 13, 14, 15], [10, 11, 12, 13, 14, 99]), strict=True):
        m["extra"]["train_seeds"] = seeds
    lost = judging.judge(MATCHED, ms, {})
    assert lost.verdict == "inconclusive" and "trained on different seeds" in (lost.reason or "")


def test_runs_timed_by_different_methods_are_separate_history_lines(tmp_path: Path) -> None:
    import matplotlib.pyplot as plt

    from kbench.report import plots, tables
    from tests.synthetic import make_result

    eager = reading.load(make_result(tmp_path / "a", seed=1, created="2026-01-01T00:00:00"))
    graph = reading.load(make_result(tmp_path / "b", seed=2, created="2026-01-02T00:00:00"))
    for m in eager["measurements"]:
        if m["metric"] == "time_ms":
            m["extra"]["timing"] = "eager"
    model = tables.build([eager, graph], [])
    fig, ax = plt.subplots()
    plots._history_axis(ax, model, "toy", "speed")
    labels = sorted(ax.get_legend_handles_labels()[1])
    assert labels == ["NVIDIA H100 80GB HBM3, cuda-graph", "NVIDIA H100 80GB HBM3, eager"]
    plt.close(fig)


def test_merging_runs_that_share_a_master_seed_keeps_that_replicate_once(tmp_path: Path) -> None:
    from kbench import merge
    from tests.synthetic import make_result

    a = reading.load(make_result(tmp_path / "a", seed=1))
    b = reading.load(make_result(tmp_path / "b", seed=2))
    shared = [m for m in a["measurements"] if m["noise"] == "seeds"]
    for m in shared:
        m["replicate"] = 7
    b["measurements"] = [m for m in b["measurements"] if m["noise"] != "seeds"] + [dict(m) for m in shared]
    a["plan"]["master_seeds"], b["plan"]["master_seeds"] = [7, 8], [7, 9]
    merged = merge.merge([a, b])
    seeded = [m for m in merged.measurements if m.noise == "seeds"]
    assert len(seeded) == 1 and len(seeded[0].samples) == 5  # the same draw, kept once, not 10 "seeds"
    assert merged.plan["master_seeds"] == [7, 8, 9]


def test_the_host_check_survives_ending_threads_and_turns_off_on_a_proc_it_cannot_read(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KBENCH_HOST_CHECK", "on")
    proc = fake_proc(tmp_path / "p", busy_ticks=1000, own_ticks=500, running=1, own_running=1)
    (proc / "self" / "task" / "9").mkdir()  # a thread that ended after its folder was listed: no stat file
    assert cotenancy.HostLoad(proc, sleep=lambda s: None)() == []
    assert cotenancy.host_checker(proc) is not None
    (proc / "stat").write_text("cpu  1 2 3 4\n")  # no procs_running line
    assert cotenancy.host_checker(proc) is None


def test_a_neighbourhood_criterion_needs_the_points_it_would_fit() -> None:

    spec = {"statistic": "fit-advantage", "form": "power", "alternatives": ["log"], "criterion": "loo"}
    assert law_records.spec_problem(spec, 4) is None
    problem = law_records.spec_problem({**spec, "neighbourhood": {"criterion": ["extrapolation"]}}, 4)
    assert problem is not None and problem.startswith("at least")


def test_a_one_rate_grid_extends_too() -> None:
    s = side(peaked(0.3), [0.01], budget=6)
    s.tune(None, "higher")  # type: ignore[arg-type]
    assert len(s.tuning) > 1 and s.lr > 0.01


@pytest.mark.parametrize(("where", "value", "field"), [
    ("plan", {"seed": None}, "plan.seed"), ("plan", {"master_seeds": "abc"}, "plan.master_seeds"),
    ("verdict", {"robustness": {"replicates": 5}}, "robustness"), ("measurement", {"replicate": 2**31}, "replicate"),
])
def test_bad_replication_fields_in_a_result_file_are_refused_by_name(tmp_path: Path, where: str, value: Any,
                                                                     field: str) -> None:
    import json as json_module

    from kbench.errors import ResultError
    from tests.synthetic import make_result

    path = make_result(tmp_path, seed=1)
    data = json_module.loads(path.read_text())
    target = {"plan": data["plan"], "verdict": data["verdicts"][0], "measurement": data["measurements"][0]}[where]
    target.update(value)
    path.write_text(json_module.dumps(data))
    with pytest.raises(ResultError, match=field):
        reading.load(path)


def test_the_gate_pools_a_seeded_metrics_replicates_into_one_paired_series() -> None:
    ms = [{"claim": "c", "role": "baseline", "metric": "accuracy", "case": CASE, "subject": {}, "noise": "seeds",
           "samples": [0.1, 0.2], "groups": [0, 1], "status": "ok", "replicate": r, "extra": {}} for r in (5, 6)]
    timing = {"claim": "c", "role": "baseline", "metric": "time_ms", "noise": "timing", "samples": [1.0],
              "groups": [0], "status": "ok", "replicate": None, "extra": {}}
    pooled = replicates.pooled([*ms, timing])
    assert len(pooled) == 2 and pooled[0]["groups"] == [0, 1, 2, 3] and pooled[0]["extra"]["replicates"] == [5, 6]
    assert pooled[1] == timing  # what is not a seeded replicate passes through


def test_a_law_ratio_is_paired_by_seed_and_blind_to_seed_order() -> None:
    """Seeds whose two sides swing together: the paired ratio is tight where an unpaired one is
    not, and listing the seeds in another order changes nothing."""
    spec = {"statistic": "last"}
    swings = [0.6, 1.0, 1.6]  # each seed's level, shared by both sides

    def side(role: str, scale: float, order: list[int]) -> list[dict[str, Any]]:
        return [{"claim": "r", "role": role, "metric": f"nonzero-fraction@{x:g}", "case": {"task": "t"},
                 "subject": {"model": role}, "noise": "seeds", "status": "ok", "unit": "fraction",
                 "better": "none", "groups": order,
                 "samples": [0.1 * swings[s] * scale * (1 + 0.1 * i) * (1.0 + 0.001 * s) for s in order],
                 "extra": {"x": x, "law": spec}} for i, x in enumerate(X[:3])]

    ratio = Claim("r", "law-ratio", Rule(at_least=1.5), combine="each")
    paired = judging.judge(ratio, side("baseline", 2.0, [0, 1, 2]) + side("candidate", 1.0, [0, 1, 2]), {})
    assert paired.verdict == "reproduced" and paired.measured == pytest.approx(2.0, rel=1e-6)
    unpaired = stats.unpaired_log_ratio([0.1 * 2.0 * s * 1.2 for s in swings], [0.1 * s * 1.2 for s in swings])
    assert unpaired.low is not None and unpaired.low < 1.5  # without the pairs the swings hide the ratio
    shuffled = judging.judge(ratio, side("baseline", 2.0, [2, 0, 1]) + side("candidate", 1.0, [1, 2, 0]), {})
    assert shuffled.measured == pytest.approx(paired.measured) and shuffled.interval == pytest.approx(paired.interval)


def test_tuning_scores_each_rate_on_the_validation_split_and_keeps_its_best(monkeypatch: pytest.MonkeyPatch) -> None:
    """The rate chosen is the validation optimum, whatever the test split would have preferred."""
    best_on = {"val": 0.01, "test": 0.001}

    def fit(model: Any, prepared: Any, config: Any, seed: int) -> Any:
        return SimpleNamespace(lr=config.lr)

    def per_example(model: Any, prepared: Any, split: str) -> np.ndarray:
        return np.array([1.0 - abs(math.log10(model.lr) - math.log10(best_on[split]))])

    monkeypatch.setattr(_matched_side.training, "fit", fit)
    monkeypatch.setattr(_matched_side.training, "per_example", per_example)
    s = side(None, [0.001, 0.003, 0.01, 0.03], budget=4)
    del s._try  # the real one: train at each rate, score on a split
    s.ctx = SimpleNamespace(progress=lambda text: None, seed_for=lambda *parts: 0, scaled=lambda n, m: n)
    s.model = lambda seed: None  # type: ignore[method-assign]
    s.claim.options.update(epochs=1, batch=1)
    s.tune(SimpleNamespace(kind="classification"), "higher")  # type: ignore[arg-type]
    assert s.lr == 0.01 and s.tuning["0.01"] == max(s.tuning.values())
    errors = side(lambda lr: abs(math.log10(lr) + 2), [0.001, 0.003, 0.01, 0.03], budget=4)  # lower is better
    errors.tune(None, "lower")  # type: ignore[arg-type]
    assert errors.lr == 0.01  # the smallest error, not the largest


def test_a_side_trained_to_chance_level_is_named() -> None:
    rng = np.random.default_rng(4)
    base = accuracy("baseline", (0.90 + 0.01 * rng.standard_normal(5)).tolist(), None)
    stuck = accuracy("candidate", (0.30 + 0.01 * rng.standard_normal(5)).tolist(), None)  # a third: chance of 3
    for m in (base, stuck):
        m["extra"].update(data={"num_classes": 3}, majority_share=0.34)
    v = judging.judge(MATCHED, [base, stuck], {})
    assert any("candidate trained to chance level" in n for n in v.notes)
    assert not any("baseline trained to chance" in n for n in v.notes)
    learned = {**stuck, "samples": (0.6 + 0.01 * rng.standard_normal(5)).tolist()}
    assert not any("chance level" in n for n in judging.judge(MATCHED, [base, learned], {}).notes)
