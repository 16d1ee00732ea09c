"""A law claim's records (kbench.law_records): how many points each criterion needs, the table of
points read back from stored measurements, and the fits the gate and the report read."""

from __future__ import annotations

import math
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from kbench import law_records
from kbench.laws import FORMS, FitError, fit, heldout_error
from kbench.stats import Estimate

LAW = {"statistic": "slope"}


@pytest.mark.parametrize(("spec", "needed"), [
    ({"form": "power"}, 4), ({"form": "power", "criterion": "aic"}, 4), ({}, 3),
    ({"form": "power", "alternatives": ["logspace-power"]}, 6),
    ({"form": "power", "criterion": "extrapolation"}, 5),
    ({"form": "logspace-power", "criterion": "extrapolation"}, 7),
])
def test_points_needed_to_fit_every_form_and_hold_points_out(spec: dict[str, Any], needed: int) -> None:
    assert law_records.points_needed(spec) == needed


def test_extrapolation_holds_out_a_quarter_once_a_quarter_is_more_than_two(monkeypatch: pytest.MonkeyPatch) -> None:
    """A form of 10 parameters: 13 points hold out 3 and leave 10, one short; 14 leave 11."""
    monkeypatch.setitem(law_records.FORMS, "wide", SimpleNamespace(params=tuple("abcdefghij")))
    assert law_records.points_needed({"form": "wide", "criterion": "extrapolation"}) == 14
    assert law_records.points_needed({"form": "wide"}) == 12


def _point(x: object, samples: list[float], groups: list[int] | None = None, **kw: Any) -> dict[str, Any]:
    return {"role": "subject", "status": "ok", "metric": "loss", "samples": samples, "groups": groups,
            "extra": {"x": x, "law": LAW}, **kw}


def _sweep(xs: list[object]) -> list[dict[str, Any]]:
    return [_point(x, [1.0 / (i + 1), 2.0 / (i + 1)], [0, 1]) for i, x in enumerate(xs)]


def test_three_points_make_a_table_and_two_do_not() -> None:
    x, table, seeds, spec = law_records.points_table(_sweep([0.5, 2, 8]), "subject")
    assert x.tolist() == [0.5, 2.0, 8.0] and seeds == [0, 1] and spec == LAW
    assert table.tolist() == [[1.0, 0.5, 1 / 3], [2.0, 1.0, 2 / 3]]
    with pytest.raises(law_records.PointsError, match="has 2 measured point"):
        law_records.points_table(_sweep([1, 2]), "subject")


@pytest.mark.parametrize("x", [0, 0.0, -1, math.inf, math.nan, True, "3", None])
def test_a_point_without_a_positive_finite_amount_is_refused(x: object) -> None:
    with pytest.raises(law_records.PointsError, match=rf"no positive amount extra.x \(got {x!r}\)"):
        law_records.points_table(_sweep([1, 2, x]), "subject")


def test_samples_without_groups_are_seeds_in_order_and_a_length_mismatch_is_refused() -> None:
    ungrouped = [_point(x, [1.0 / x, 3.0 / x]) for x in (1, 2, 4)]
    assert law_records.points_table(ungrouped, "subject")[2] == [0, 1]
    bad = _sweep([1, 2, 4])
    bad[1]["groups"] = [0, 1, 2]  # three seeds named for two samples: zip alone would drop the third
    with pytest.raises(ValueError, match="zip"):
        law_records.points_table(bad, "subject")


def test_fits_per_seed_do_not_depend_on_the_unit_of_the_amount() -> None:
    x = np.array([1.0, 2.0, 4.0, 8.0, 16.0])
    table = np.array([3.0 * x ** -0.5, 2.0 * x ** -0.7])
    spec = {"statistic": "param", "form": "power", "param": "alpha"}
    small, large = law_records.fitted_per_seed(spec, x, table), law_records.fitted_per_seed(spec, 1000 * x, table)
    assert small["fit power c"] == pytest.approx(large["fit power c"])
    assert small["fit power alpha"] == pytest.approx([-0.5, -0.7], abs=1e-3)


def test_a_form_that_cannot_be_fitted_leaves_the_next_one_fitted() -> None:
    x = np.array([1.0, 2.0, 4.0, 8.0])  # four points: too few for logspace-power's four parameters
    spec = {"statistic": "fit-advantage", "form": "logspace-power", "alternatives": ["power"]}
    found = law_records.fitted_per_seed(spec, x, np.array([3.0 * x ** -0.5, 2.0 * x ** -0.5]))
    assert "fit power alpha" in found and not any("logspace" in k for k in found)


def test_the_report_gets_each_forms_fit_to_the_mean_and_per_seed_intervals() -> None:
    x = np.array([10.0, 20.0, 40.0, 80.0, 160.0, 320.0])
    per_seed = np.array([3.0 * (x / 320) ** -0.5, 3.3 * (x / 320) ** -0.45, 2.8 * (x / 320) ** -0.52])
    out = law_records.describe_fits(["logspace-power", "power", "linear"], x[:5].astype(int), per_seed[:, :5],
                                    "extrapolation")
    assert out["x_scale"] == 160.0
    assert out["logspace-power"] == {"formula": FORMS["logspace-power"].formula,
                                     "error": str(_heldout_error("logspace-power", x[:5] / 160.0))}
    u, mean = x[:5] / 160.0, per_seed[:, :5].mean(axis=0)
    for name in ("power", "linear"):
        best = fit(name, u, mean)
        entry = out[name]
        assert entry["formula"] == FORMS[name].formula and entry["params"] == pytest.approx(best.params)
        assert (entry["rmse"], entry["aic"]) == pytest.approx((best.rmse, best.aic))
        assert entry["heldout"] == pytest.approx(heldout_error(name, u, mean, "extrapolation"))
        assert entry["at_bound"] == list(best.at_bound)
        for p in FORMS[name].params:
            est = Estimate.from_values([fit(name, u, row).params[p] for row in per_seed[:, :5]], "linear")
            assert entry["intervals"][p] == pytest.approx([est.low, est.high])


def _heldout_error(name: str, u: np.ndarray) -> FitError:
    """Five points: enough to fit logspace-power's four parameters, too few to hold two out."""
    try:
        heldout_error(name, u, 1.0 + u, "extrapolation")
    except FitError as exc:
        return exc
    raise AssertionError("expected a FitError")


def test_one_seed_or_seeds_that_cannot_be_fitted_give_no_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    x = np.array([1.0, 2.0, 4.0, 8.0])
    one = law_records.describe_fits(["power"], x, np.array([3.0 * x ** -0.5]), "loo")
    assert one["power"]["intervals"] == {"c": None, "alpha": None}
    calls: list[int] = []

    def mean_only(name: str, u: np.ndarray, y: np.ndarray) -> Any:
        calls.append(1)
        if len(calls) > 1:  # the first fit is the mean's; the seeds' come after
            raise FitError("this seed cannot be fitted")
        return fit(name, u, y)

    monkeypatch.setattr(law_records, "fit", mean_only)
    monkeypatch.setattr(law_records, "heldout_error", lambda *a: 0.0)
    two = law_records.describe_fits(["power"], x, np.array([3.0 * x ** -0.5, 2.0 * x ** -0.5]), "loo")
    assert two["power"]["intervals"] == {"c": None, "alpha": None} and "params" in two["power"]


def _table(values: list[list[float]], law: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Points 1, 2, 4, ... whose seeds 0, 1, ... hold values[seed][point]."""
    return [{**_point(2.0 ** i, [row[i] for row in values], list(range(len(values)))),
             "extra": {"x": 2.0 ** i, "law": law or LAW}} for i in range(len(values[0]))]


@pytest.mark.parametrize("values", [
    [[5.0, 5.0, 5.0], [5.0, 5.0, 5.0]],  # exactly constant
    [[1000.0, 1000.0, 1000.0], [1000.0, 1000.0 + 1e-7, 1000.0]],  # within 1e-9 of its size
])
def test_a_quantity_that_does_not_vary_along_the_sweep_is_refused(values: list[list[float]]) -> None:
    with pytest.raises(law_records.PointsError, match="does not vary along the sweep"):
        law_records.points_table(_table(values), "subject")


def test_a_small_quantity_varying_by_more_than_1e_9_is_a_sweep() -> None:
    x, table, _, _ = law_records.points_table(_table([[0.5, 0.5 + 1.5e-9, 0.5], [0.5, 0.5, 0.5]]), "subject")
    assert x.tolist() == [1.0, 2.0, 4.0] and table.shape == (2, 3)


def test_stored_points_whose_law_kbench_cannot_judge_are_refused() -> None:
    with pytest.raises(law_records.PointsError, match=r"law is not one kbench can judge: statistic: one of slope, "
                                                      r"fit-advantage, last, param \(got 'median'\)"):
        law_records.points_table(_table([[1.0, 2.0, 3.0], [1.5, 2.5, 3.5]], {"statistic": "median"}), "subject")


GOOD_LAW = {"statistic": "fit-advantage", "form": "power", "alternatives": ["linear"]}


@pytest.mark.parametrize(("hood", "problem"), [
    ({"criterion": ["loo", "aic"], "late": [0.25, 1]}, None),
    ({"criterion": ["LOO"]}, "neighbourhood.criterion: each value one of loo, extrapolation, aic (got 'LOO')"),
    ({"late": [0.0]}, "neighbourhood.late: each value a share in (0, 1] (got 0.0)"),
    ({"late": [1.5]}, "neighbourhood.late: each value a share in (0, 1] (got 1.5)"),
    ({"late": [True]}, "neighbourhood.late: each value a share in (0, 1] (got True)"),
    ({"late": ["half"]}, "neighbourhood.late: each value a share in (0, 1] (got 'half')"),
    ({"late": ["aic"]}, "neighbourhood.late: each value a share in (0, 1] (got 'aic')"),
    ({"criterion": "loo"}, "neighbourhood.criterion: a non-empty list (got 'loo')"),
    ({"late": []}, "neighbourhood.late: a non-empty list (got [])"),
    (["late"], "neighbourhood: an object with keys from late, criterion (got ['late'])"),
    ({"seeds": [1, 2]}, "neighbourhood: an object with keys from late, criterion (got {'seeds': [1, 2]})"),
])
def test_a_neighbourhood_of_analysis_choices_is_checked_value_by_value(hood: Any, problem: str | None) -> None:
    assert law_records.spec_problem({**GOOD_LAW, "neighbourhood": hood}) == problem


@pytest.mark.parametrize(("edit", "problem"), [
    ({"statistic": "mean"}, "statistic: one of slope, fit-advantage, last, param (got 'mean')"),
    ({"form": "cubic"}, "form: one of power-convergent, logspace-power, power, log, linear, constant (got 'cubic')"),
    ({"alternatives": ["linear", "linear"]},
     "alternatives: distinct forms from power-convergent, logspace-power, power, log, linear, constant "
     "(got ['linear', 'linear'])"),
    ({"criterion": "bic"}, "criterion: one of loo, extrapolation, aic (got 'bic')"),
    ({"late": 0}, "late: a share of the points in (0, 1] (got 0)"),
    ({"late": 1.5}, "late: a share of the points in (0, 1] (got 1.5)"),
    ({"late": 1}, None),
    ({"direction": "up"}, "direction: one of increasing, decreasing, for a fit-advantage statistic (got 'up' with "
                          "'fit-advantage')"),
    ({"statistic": "param", "form": None}, "statistic 'param' needs the claimed `form`"),
])
def test_a_law_spec_problem_names_the_field_and_what_it_takes(edit: dict[str, Any], problem: str | None) -> None:
    assert law_records.spec_problem({**GOOD_LAW, **edit}) == problem


def test_the_points_a_spec_needs_count_the_neighbourhoods_criteria_too() -> None:
    """power against linear: 4 points under leave-one-out, 5 when the neighbourhood holds the
    largest quarter out (at least 2 held out, 3 left for a fit of 2 parameters)."""
    assert law_records.spec_problem(GOOD_LAW, 4) is None
    assert law_records.spec_problem(GOOD_LAW, 3) == "at least 4 points to fit every form and hold points out (got 3)"
    hood = {**GOOD_LAW, "neighbourhood": {"criterion": ["extrapolation"]}}
    assert law_records.spec_problem(hood, 4) == "at least 5 points to fit every form and hold points out (got 4)"
    assert law_records.spec_problem(hood, 5) is None
