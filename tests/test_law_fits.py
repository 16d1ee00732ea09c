"""The fits under a law's verdict, figure by figure (kbench.laws): how close a fit comes to the
curve that made the points, what it does at the edges of its parameters' ranges and with a scale
that must be positive, each held-out criterion computed by hand, the advantage's limits, the
direction check, the slope's window and the curves' own values at the ends of their range."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import pytest

from kbench import laws

U = np.geomspace(0.05, 1.0, 12)


def test_a_fit_recovers_noise_free_parameters_between_its_grid_points_to_1e_6() -> None:
    """0.37 and 0.63 lie between the exponent grid's points: only the refinement gets there."""
    f = laws.fit("power-convergent", U, 2.0 - 0.5 * U ** -0.37)
    assert f.params == pytest.approx({"A0": 2.0, "c": 0.5, "alpha": 0.37}, abs=1e-6) and f.at_bound == ()
    g = laws.fit("logspace-power", U, np.exp(1.2 - 1.7 * U ** 0.63) + 0.4)
    assert g.params == pytest.approx({"A0": 0.4, "b": 1.2, "c": 1.7, "alpha": 0.63}, abs=1e-6) and g.at_bound == ()
    assert g.rmse < 1e-7


@pytest.mark.parametrize(("alpha", "edge"), [(20.0, 8.0), (0.001, 0.01)])
def test_an_exponent_beyond_the_grid_ends_at_its_edge_and_is_flagged(alpha: float, edge: float) -> None:
    f = laws.fit("power-convergent", U, 2.0 - 0.5 * U ** -alpha)
    assert f.params["alpha"] == edge and f.at_bound == ("alpha",)


def test_a_scale_that_must_be_positive_is_held_at_zero_when_the_data_want_it_negative(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """exp(b) cannot be negative: at every (c, alpha) near 3 and 1 the best scale for
    1 - 2 exp(-3u) is -2, so it is held at zero, A0 alone fits the mean, and b is flagged."""
    y = 1.0 - 2.0 * np.exp(-3.0 * U)
    grids = (np.array([2.9, 3.0, 3.1]), np.array([0.9, 1.0, 1.1]))
    near = dataclasses.replace(laws.FORMS["logspace-power"], grids=grids)
    sse, coef = laws._linear_part(near, U, y, (3.0, 1.0))
    assert coef.tolist() == pytest.approx([float(y.mean()), 0.0]) and coef[1] == 0.0
    assert sse == pytest.approx(float(np.sum((y - y.mean()) ** 2)))
    monkeypatch.setitem(laws.FORMS, "logspace-power", near)
    f = laws.fit("logspace-power", U, y)
    assert "b" in f.at_bound and f.params["b"] == -math.inf and f.params["A0"] == pytest.approx(float(y.mean()))


def test_a_positive_scale_below_one_is_no_edge() -> None:
    f = laws.fit("logspace-power", U, 2.0 + 0.5 * np.exp(-1.3 * U ** 0.7))  # exp(b) = 0.5
    assert f.params["b"] == pytest.approx(math.log(0.5), abs=1e-5) and f.at_bound == ()


def test_columns_that_overflow_make_no_fit_at_that_point() -> None:
    sse, coef = laws._linear_part(laws.FORMS["power"], np.array([1e-300, 1.0]), np.array([1.0, 2.0]), (-8.0,))
    assert sse == math.inf and coef.tolist() == [0.0]


@pytest.mark.parametrize(("form", "params", "u", "expected"), [
    ("linear", {"a": 1.0, "b": 2.0}, [0.5, 1.0], [2.0, 3.0]),
    ("constant", {"a": 2.5}, [1, 2], [2.5, 2.5]),  # integer u: still 2.5, not 2
    ("logspace-power", {"A0": 1.0, "b": 0.5, "c": 2.0, "alpha": 3.0}, [0.5, 1.0],
     [1.0 + math.exp(0.5 - 2.0 * 0.125), 1.0 + math.exp(-1.5)]),
    ("logspace-power", {"A0": 0.0, "b": 800.0, "c": 0.0, "alpha": 1.0}, [1.0], [math.exp(700.0)]),  # capped
    ("logspace-power", {"A0": 0.0, "b": -800.0, "c": 0.0, "alpha": 1.0}, [1.0], [math.exp(-700.0)]),
])
def test_a_fits_curve_at_given_parameters(form: str, params: dict[str, float], u: list[float],
                                          expected: list[float]) -> None:
    got = laws.Fit(form, params, 0.0, 0.0).predict(np.array(u))
    assert got.shape == (len(u),) and got.tolist() == pytest.approx(expected, rel=1e-12, abs=0.0)


def _wavy(n: int) -> tuple[np.ndarray, np.ndarray]:
    u = np.linspace(0.1, 1.0, n)
    return u, 1.0 + 2.0 * u + 0.3 * np.sin(7.0 * u)


def test_the_extrapolation_error_predicts_the_largest_quarter_from_the_rest() -> None:
    u, y = _wavy(12)  # 12 // 4 = 3 held out
    f = laws.fit("linear", u[:9], y[:9])
    expected = math.sqrt(float(np.mean((f.predict(u[9:]) - y[9:]) ** 2)))
    shuffled = np.random.default_rng(0).permutation(12)
    assert laws.heldout_error("linear", u[shuffled], y[shuffled], "extrapolation") == pytest.approx(expected)
    u7, y7 = _wavy(7)  # 7 // 4 = 1, but at least 2 are held out
    g = laws.fit("linear", u7[:5], y7[:5])
    assert laws.heldout_error("linear", u7, y7, "extrapolation") == pytest.approx(
        math.sqrt(float(np.mean((g.predict(u7[5:]) - y7[5:]) ** 2))))


def test_the_leave_one_out_error_and_the_aic_by_hand() -> None:
    u, y = _wavy(8)
    errors = [laws.fit("linear", np.delete(u, i), np.delete(y, i)).predict(u[i:i + 1])[0] - y[i] for i in range(8)]
    assert laws.heldout_error("linear", u, y, "loo") == pytest.approx(math.sqrt(float(np.mean(np.square(errors)))))
    assert laws.heldout_error("linear", u, y, "aic") == laws.fit("linear", u, y).aic
    with pytest.raises(ValueError, match="unknown criterion 'LOO'.*loo, extrapolation, aic"):
        laws.heldout_error("linear", u, y, "LOO")


def _errors(monkeypatch: pytest.MonkeyPatch, by_form: dict[str, float]) -> None:
    """Held-out errors (or AICs) given per form, as exact fits give them in exact arithmetic."""
    monkeypatch.setattr(laws, "heldout_error", lambda form, u, y, criterion: by_form[form])


def test_the_aic_advantage_is_the_evidence_ratio_capped_at_e_to_the_700(monkeypatch: pytest.MonkeyPatch) -> None:
    u, y = _wavy(10)
    own, alt = laws.fit("linear", u, y).aic, laws.fit("constant", u, y).aic
    assert laws.advantage("linear", ["constant"], u, y, "aic") == pytest.approx(math.exp((alt - own) / 2))
    _errors(monkeypatch, {"linear": -2000.0, "constant": 0.0})  # AICs 2000 apart: e^1000 would overflow
    assert laws.advantage("linear", ["constant"], u, y, "aic") == math.exp(700.0)


def test_when_the_claimed_form_is_exact_the_advantage_is_infinite_unless_the_alternative_is_too(
        monkeypatch: pytest.MonkeyPatch) -> None:
    u, y = _wavy(8)
    _errors(monkeypatch, {"linear": 0.0, "constant": 0.5, "power": 0.0})
    assert laws.advantage("linear", ["constant"], u, y, "loo") == math.inf
    assert laws.advantage("linear", ["power"], u, y, "loo") == 1.0  # both exact: no advantage


def test_a_claim_whose_alternative_is_exact_cannot_be_judged(monkeypatch: pytest.MonkeyPatch) -> None:
    x = np.linspace(1.0, 10.0, 8)
    _errors(monkeypatch, {"linear": 0.5, "constant": 0.0})
    spec = {"statistic": "fit-advantage", "form": "linear", "alternatives": ["constant"]}
    with pytest.raises(laws.FitError, match=r"predicts these points exactly \(held-out error ratio 0.0\)"):
        laws.statistic(spec, x, 3.0 + 2.0 * x)


def test_the_statistic_reads_the_claims_criterion_and_window() -> None:
    x = np.linspace(1.0, 10.0, 10)
    y = 1.0 + 2.0 * x / 10 + 0.3 * np.sin(7.0 * x / 10)
    spec: dict[str, Any] = {"statistic": "fit-advantage", "form": "linear", "alternatives": ["constant"]}
    u = x / x.max()
    assert laws.statistic(spec, x, y) == pytest.approx(laws.advantage("linear", ["constant"], u, y, "loo"))
    assert laws.statistic({**spec, "criterion": "aic"}, x, y) == pytest.approx(
        laws.advantage("linear", ["constant"], u, y, "aic"))
    curved = np.log(x) ** 2
    assert laws.statistic({"statistic": "slope"}, x, curved) == pytest.approx(laws.slope(x, curved, 0.5))
    assert laws.statistic({"statistic": "slope", "late": 0.2}, x, curved) == pytest.approx(
        (curved[-1] - curved[-2]) / (math.log(x[-1]) - math.log(x[-2])))  # 2 points: the last step


def test_a_flat_fit_runs_neither_way_and_a_falling_one_is_decreasing() -> None:
    u = np.linspace(0.1, 1.0, 8)
    flat = {"form": "constant"}
    assert "is not increasing (it changes by +0" in (
        laws.claimed_fit_problem({**flat, "direction": "increasing"}, u, np.full(8, 2.0)) or "")
    assert "is not decreasing" in (laws.claimed_fit_problem({**flat, "direction": "decreasing"}, u, np.full(8, 2.0))
                                   or "")
    falling = {"form": "linear", "direction": "decreasing"}
    assert laws.claimed_fit_problem(falling, u, 3.0 - 2.0 * u) is None
    assert "is not decreasing (it changes by +0.45" in (laws.claimed_fit_problem(falling, u, 3.0 + 0.5 * u) or "")
