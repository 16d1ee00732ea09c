"""Laws: fits recover known parameters within their intervals, forms are told apart, and the
verdict follows the data's trend (kbench.laws and the law kinds' judging, no training)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from kbench import judging, law_records, laws
from kbench.claims import Claim
from kbench.kinds._law_spec import check_spec
from kbench.verdicts import Rule

X = np.geomspace(1e4, 1e6, 9)


def curve(form: str, params: tuple[float, ...], seeds: int = 5, noise: float = 0.002, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    clean = laws.FORMS[form].fn(X / X.max(), *params)
    return np.array([clean + rng.normal(0, noise, X.size) for _ in range(seeds)])


def law_measurements(table: np.ndarray, spec: dict[str, Any], role: str = "subject",
                     x: np.ndarray = X) -> list[dict[str, Any]]:
    """As the law kind stores them: one measurement per point, one sample per seed."""
    return [{"claim": "c", "case": {"task": "t", "points": x.tolist()}, "subject": {"model": role},
             "metric": f"q@{xi:g}", "unit": "fraction", "better": "none", "noise": "seeds", "role": role,
             "status": "ok", "samples": table[:, j].tolist(), "groups": list(range(table.shape[0])),
             "extra": {"x": float(xi), "law": spec}} for j, xi in enumerate(x)]


def judge(kind: str, measurements: list[dict[str, Any]], rule: Rule) -> Any:
    return judging.judge(Claim("c", kind, rule, combine="each"), measurements, {})


@pytest.mark.parametrize(("form", "true", "name"), [
    ("power-convergent", (0.4, 0.1, 0.5), "alpha"),
    ("power-convergent", (0.4, 0.1, 1.5), "alpha"),
    ("logspace-power", (0.07, -2.0, 3.0, 1.0), "A0"),
    ("logspace-power", (0.07, -2.0, 3.0, 1.0), "alpha"),
    ("log", (0.3, -0.02), "c"),
])
def test_a_fitted_parameter_recovers_the_known_value_within_its_interval(form: str, true: tuple[float, ...],
                                                                         name: str) -> None:
    table = curve(form, true)
    spec = {"statistic": "param", "form": form, "param": name}
    v = judge("law", law_measurements(table, spec), Rule(at_least=-1e9))
    value = dict(zip(laws.FORMS[form].params, true, strict=True))[name]
    low, high = v.interval
    assert low <= value <= high
    assert high - low < 0.5 * max(abs(value), 0.1)  # an interval, not the whole line


def test_the_claimed_form_fits_best_only_when_the_data_follow_it() -> None:
    spec = {"statistic": "fit-advantage", "form": "power-convergent", "alternatives": ["log", "linear"],
            "criterion": "loo"}
    own = judge("law", law_measurements(curve("power-convergent", (0.4, 0.1, 0.5)), spec), Rule(at_least=1.0))
    other = judge("law", law_measurements(curve("log", (0.3, 0.02)), spec), Rule(at_least=1.0))
    assert own.verdict == "reproduced" and own.measured > 2
    assert other.verdict == "not-reproduced" and other.measured < 1
    fits = own.per_case[0]["details"]["fits"]
    assert set(fits) == {"power-convergent", "log", "linear", "x_scale"}
    assert fits["power-convergent"]["heldout"] < fits["log"]["heldout"]


def test_a_form_that_fits_best_running_against_the_claimed_direction_wins_nothing() -> None:
    falling = curve("power-convergent", (0.4, -0.1, 0.5))  # the claimed form, but decreasing
    spec = {"statistic": "fit-advantage", "form": "power-convergent", "alternatives": ["log", "linear"],
            "criterion": "loo"}
    free = judge("law", law_measurements(falling, spec), Rule(at_least=1.0))
    assert free.verdict == "reproduced"  # the form alone does predict these points best
    claimed = judge("law", law_measurements(falling, {**spec, "direction": "increasing"}), Rule(at_least=1.0))
    assert claimed.verdict == "not-reproduced" and claimed.measured == pytest.approx(1 / free.measured)
    assert any("is not increasing" in n for n in claimed.notes)
    up = curve("power-convergent", (0.4, 0.1, 0.5))
    rising = judge("law", law_measurements(up, {**spec, "direction": "increasing"}), Rule(at_least=1.0))
    assert rising.verdict == "reproduced" and not any("not increasing" in n for n in rising.notes)


def test_a_claimed_fit_stuck_at_the_edge_of_a_parameter_range_wins_nothing() -> None:
    u = X / X.max()
    y = 0.3 + 0.02 * np.log(u) + np.random.default_rng(0).normal(0, 5e-4, X.size)  # a log law
    spec = {"statistic": "fit-advantage", "form": "power-convergent", "alternatives": ["linear"], "criterion": "loo"}
    assert "alpha" in laws.fit("power-convergent", u, y).at_bound  # mimics the log with alpha at its floor
    assert laws.advantage("power-convergent", ["linear"], u, y, "loo") > 10
    assert laws.claimed_fit_problem(spec, u, y) is not None
    assert laws.statistic(spec, X, y) == pytest.approx(1 / laws.advantage("power-convergent", ["linear"], u, y, "loo"))


@pytest.mark.parametrize("criterion", ["extrapolation", "aic"])
def test_other_criteria_prefer_the_true_form(criterion: str) -> None:
    table = curve("logspace-power", (0.07, -2.0, 3.0, 1.0))
    for row in table:
        assert laws.advantage("logspace-power", ["log", "linear"], X / X.max(), row, criterion) > 1
    concave = curve("power-convergent", (0.4, 0.1, 0.5))[0]  # rising and bending down: no logspace curve
    assert laws.advantage("logspace-power", ["power-convergent"], X / X.max(), concave, criterion) < 1


def test_swapping_the_trend_flips_the_verdict() -> None:
    spec = {"statistic": "slope", "late": 0.5}
    rising = curve("log", (0.3, 0.02))
    up = judge("law", law_measurements(rising, spec), Rule(at_least=0.0))
    down = judge("law", law_measurements(rising[:, ::-1].copy(), spec), Rule(at_least=0.0))
    assert up.verdict == "reproduced" and up.measured == pytest.approx(0.02, abs=0.003)
    assert down.verdict == "not-reproduced" and down.measured == pytest.approx(-0.02, abs=0.003)


def test_a_flat_noisy_trend_is_inconclusive() -> None:
    spec = {"statistic": "slope", "late": 1.0}
    flat = curve("constant", (0.3,), noise=0.02, seeds=3)
    assert judge("law", law_measurements(flat, spec), Rule(at_most=0.0)).verdict == "inconclusive"


def test_the_slope_reads_only_the_latest_points() -> None:
    y = np.array([0.0, 1.0, 2.0, 3.0, 3.0, 3.0])
    x = np.geomspace(1, 32, 6)
    assert laws.slope(x, y, 0.5) == pytest.approx(0.0, abs=1e-12)
    assert laws.slope(x, y, 1.0) > 0
    assert laws.statistic({"statistic": "last"}, x[::-1], y[::-1]) == 3.0


def test_law_ratio_pairs_seeds_and_inverts_when_the_sides_swap() -> None:
    spec = {"statistic": "last"}
    silu = law_measurements(curve("constant", (0.4,), noise=0.005), spec, "baseline")
    relu = law_measurements(curve("constant", (0.1,), noise=0.005, seed=1), spec, "candidate")
    v = judge("law-ratio", silu + relu, Rule(at_least=1.0))
    assert v.verdict == "reproduced" and v.measured == pytest.approx(4.0, rel=0.1)
    for m in silu:
        m["role"] = "candidate"
    for m in relu:
        m["role"] = "baseline"
    w = judge("law-ratio", silu + relu, Rule(at_least=1.0))
    assert w.verdict == "not-reproduced" and w.measured == pytest.approx(1 / v.measured)


@pytest.mark.parametrize(("change", "why"), [
    (lambda ms: ms[:2], "at least 3"),
    (lambda ms: [{**m, "samples": m["samples"][:1], "groups": [0]} for m in ms], "fewer than 2 seeds"),
    (lambda ms: [{**m, "extra": {**m["extra"], "law": {"statistic": "last"}}} if i == 0 else m
                 for i, m in enumerate(ms)], "one law"),
    (lambda ms: [{**m, "extra": {**m["extra"], "x": 5.0}} for m in ms], "distinct"),
    (lambda ms: [{**m, "samples": [math.nan] * len(m["samples"])} if i == 1 else m for i, m in enumerate(ms)],
     "not finite"),
])
def test_points_that_cannot_make_a_law_are_inconclusive_with_the_reason(change: Any, why: str) -> None:
    ms = change(law_measurements(curve("log", (0.3, 0.02)), {"statistic": "slope"}))
    v = judge("law", ms, Rule(at_least=0.0))
    assert v.verdict == "inconclusive" and why in v.reason


def test_a_seed_missing_at_one_point_is_left_out_not_misaligned() -> None:
    table = curve("log", (0.3, 0.02), seeds=3)
    ms = law_measurements(table, {"statistic": "last"})
    ms[-1] = {**ms[-1], "samples": ms[-1]["samples"][1:], "groups": [1, 2]}
    v = judge("law", ms, Rule(at_least=0.0))
    assert v.per_case[0]["details"]["seeds"] == [1, 2]
    assert v.measured == pytest.approx(table[1:, -1].mean())


def test_too_few_points_for_a_form_are_refused_by_the_fit() -> None:
    with pytest.raises(laws.FitError, match="at least 5 points"):
        laws.fit("logspace-power", X[:4] / X[3], np.arange(4.0))
    with pytest.raises(laws.FitError, match="positive"):
        laws.fit("log", np.array([0.0, 1.0, 2.0]), np.arange(3.0))


@pytest.mark.parametrize(("spec", "points", "problem"), [
    ({"statistic": "fit-advantage"}, 8, "needs the claimed `form`"),
    ({"statistic": "fit-advantage", "form": "log"}, 8, "alternatives"),
    ({"statistic": "fit-advantage", "form": "log", "alternatives": ["log"]}, 8, "alternatives"),
    ({"statistic": "fit-advantage", "form": "log", "alternatives": ["cubic"]}, 8, "alternatives"),
    ({"statistic": "param", "form": "log", "param": "alpha"}, 8, "param: one of A0, c"),
    ({"statistic": "fit-advantage", "form": "log", "alternatives": ["logspace-power"]}, 5, "at least 6 points"),
])
def test_a_law_spec_that_cannot_be_judged_is_named(spec: dict[str, Any], points: int, problem: str) -> None:
    assert problem in str(check_spec(spec, points))


def test_fitted_per_seed_gives_every_parameter_and_the_statistic() -> None:
    table = curve("power-convergent", (0.4, 0.1, 0.5), seeds=3)
    spec = {"statistic": "slope", "form": "power-convergent", "alternatives": ["log"]}
    out = law_records.fitted_per_seed(spec, X, table)
    assert set(out) == {"statistic slope", "fit power-convergent A0", "fit power-convergent c",
                        "fit power-convergent alpha", "fit log A0", "fit log c"}
    assert all(len(v) == 3 for v in out.values())
    assert np.mean(out["fit power-convergent alpha"]) == pytest.approx(0.5, abs=0.1)


def test_a_quantity_that_does_not_vary_is_not_judged() -> None:
    table = np.ones((3, X.size))  # SiLU's nonzero fraction: 1.0 everywhere
    for spec in ({"statistic": "slope"}, {"statistic": "fit-advantage", "form": "log", "alternatives": ["linear"],
                                          "criterion": "aic"}):
        v = judge("law", law_measurements(table, spec), Rule(at_least=1.0))
        assert v.verdict == "inconclusive" and "does not vary" in v.reason


def test_a_parameter_pinned_at_the_edge_of_its_range_is_not_an_estimate() -> None:
    spec = {"statistic": "param", "form": "power-convergent", "param": "alpha"}
    straight = curve("linear", (0.3, 0.05))  # no convergent power law: alpha runs to its smallest value
    v = judge("law", law_measurements(straight, spec), Rule(at_least=0.0))
    assert v.verdict == "inconclusive" and "edge of its range" in v.reason
    assert "alpha" in laws.fit("power-convergent", X / X.max(), straight[0]).at_bound
    fits = law_records.fitted_per_seed({"statistic": "slope", "form": "power-convergent"}, X, straight)
    assert "fit power-convergent alpha" not in fits and "fit power-convergent A0" in fits


def test_a_zero_held_out_error_has_no_advantage_to_judge(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(laws, "heldout_error", lambda form, u, y, criterion: 0.0 if form == "log" else 0.1)
    spec = {"statistic": "fit-advantage", "form": "log", "alternatives": ["linear"]}
    v = judge("law", law_measurements(curve("log", (0.3, 0.02)), spec), Rule(at_least=1.0))
    assert v.verdict == "inconclusive" and "exactly" in v.reason


@pytest.mark.parametrize(("edit", "problem"), [
    ({"statistic": "median"}, "statistic"), ({"form": "cubic", "statistic": "slope"}, "form"),
    ({"alternatives": ["cubic"]}, "alternatives"), ({"criterion": "bogus"}, "criterion"), ({"late": "half"}, "late"),
    ({"statistic": "param", "form": "log", "param": "zeta"}, "param"),
])
def test_a_law_no_one_can_judge_is_named(edit: dict[str, Any], problem: str) -> None:
    assert law_records.spec_problem({"statistic": "slope", **edit}).startswith(problem)


def test_points_needed_follow_the_criterion() -> None:
    spec = {"statistic": "fit-advantage", "form": "logspace-power", "alternatives": ["log"]}
    assert law_records.points_needed(spec) == 6  # 4 parameters, one held out
    assert law_records.points_needed({**spec, "criterion": "extrapolation"}) == 7  # 2 held out, 5 left to fit
    assert law_records.spec_problem({**spec, "criterion": "extrapolation"}, 6) is not None
    assert law_records.spec_problem({**spec, "criterion": "extrapolation"}, 7) is None


def test_aic_penalises_each_parameter_and_rewards_a_smaller_error() -> None:
    u = X / X.max()
    y = 0.3 + np.random.default_rng(2).normal(0, 0.01, X.size)
    for name in ("constant", "linear", "log", "power-convergent"):
        f = laws.fit(name, u, y)
        k = len(laws.FORMS[name].params)
        assert f.aic == pytest.approx(X.size * math.log(f.rmse ** 2) + 2 * k)
    flat, line = laws.fit("constant", u, y), laws.fit("linear", u, y)
    assert line.rmse <= flat.rmse  # a free slope never fits worse ...
    assert laws.advantage("constant", ["linear"], u, y, "aic") > 1  # ... but on flat data it costs more than it buys
