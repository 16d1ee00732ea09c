"""Laws: functional forms fitted to a swept quantity, and the statistics a law claim is judged on.

A law claim measures one quantity (an activation ratio) at several points of a variable (tokens
trained on, model size), once per seed. Each form here is fitted by least squares
(variable projection: a grid over the exponents, scipy's Nelder-Mead to refine) to the points of one seed; a
statistic of the fit (the sign of a trend, a fitted limit, how much better the claimed form
predicts held-out points than the alternatives) is computed per seed, and the seeds give its
interval (Student t over per-seed values: with three to five seeds a percentile bootstrap over
seeds would be narrower than the evidence). The variable is fitted in units of its largest
value (u = x / max x) so that parameters other than scales (exponents, limits) do not depend on
units and the fits stay well conditioned.

Pure: numpy arrays in, numbers out; no torch, no device.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import minimize

Curve = Callable[..., np.ndarray]
Theta = tuple[float, ...]


@dataclass(frozen=True)
class Form:
    """y = fn(u, **params), u = x / max(x). Every form here is linear in all but at most two of
    its parameters, so it is fitted by variable projection: a grid over the nonlinear ones
    (`grids`), the linear ones by least squares at each grid point (`basis` gives their
    columns), then the best grid point refined (Nelder-Mead). No starting guesses to get wrong."""

    name: str
    params: tuple[str, ...]
    formula: str
    grids: tuple[np.ndarray, ...]  # one grid per nonlinear parameter
    basis: Callable[[np.ndarray, Theta], np.ndarray]  # (u, theta) -> columns (n, m) of the linear part
    named: Callable[[Theta, np.ndarray], dict[str, float]]  # (theta, linear coefficients) -> params
    fn: Curve  # (u, *params in `params` order) -> y
    nonlinear: tuple[str, ...] = ()  # the parameters the grids search, in grid order
    positive: int | None = None  # a linear coefficient that must be > 0 (a scale written as exp(b))
    positive_name: str = ""  # the parameter that coefficient becomes


def _power_convergent(u: np.ndarray, a0: float, c: float, alpha: float) -> np.ndarray:
    return a0 - c * u ** (-alpha)


def _logspace_power(u: np.ndarray, a0: float, b: float, c: float, alpha: float) -> np.ndarray:
    return np.exp(np.clip(b - c * u ** alpha, -700, 700)) + a0


def _power(u: np.ndarray, c: float, alpha: float) -> np.ndarray:
    return c * u ** alpha


def _log(u: np.ndarray, a0: float, c: float) -> np.ndarray:
    return np.asarray(a0 + c * np.log(u))


def _linear(u: np.ndarray, a: float, b: float) -> np.ndarray:
    return a + b * u


def _constant(u: np.ndarray, a: float) -> np.ndarray:
    return np.full_like(u, a, dtype=float)


def _ones(u: np.ndarray) -> np.ndarray:
    return np.ones_like(u, dtype=float)


EXPONENTS = np.geomspace(1e-2, 8.0, 40)
SCALES = np.concatenate([-np.geomspace(1e-3, 30.0, 24)[::-1], np.geomspace(1e-3, 30.0, 24)])
FORMS: dict[str, Form] = {f.name: f for f in (
    Form("power-convergent", ("A0", "c", "alpha"), "A0 - c * u^(-alpha)", (EXPONENTS,),
         lambda u, t: np.stack([_ones(u), -u ** (-t[0])], axis=1),
         lambda t, k: {"A0": k[0], "c": k[1], "alpha": t[0]}, _power_convergent, ("alpha",)),
    Form("logspace-power", ("A0", "b", "c", "alpha"), "exp(b - c * u^alpha) + A0", (SCALES, EXPONENTS),
         lambda u, t: np.stack([_ones(u), np.exp(np.clip(-t[0] * u ** t[1], -700, 700))], axis=1),
         lambda t, k: {"A0": k[0], "b": math.log(k[1]) if k[1] > 0 else -math.inf, "c": t[0], "alpha": t[1]},
         _logspace_power, ("c", "alpha"), positive=1, positive_name="b"),
    Form("power", ("c", "alpha"), "c * u^alpha", (np.concatenate([-EXPONENTS[::-1], EXPONENTS]),),
         lambda u, t: (u ** t[0])[:, None], lambda t, k: {"c": k[0], "alpha": t[0]}, _power, ("alpha",)),
    Form("log", ("A0", "c"), "A0 + c * ln(u)", (), lambda u, t: np.stack([_ones(u), np.log(u)], axis=1),
         lambda t, k: {"A0": k[0], "c": k[1]}, _log),
    Form("linear", ("a", "b"), "a + b * u", (), lambda u, t: np.stack([_ones(u), u], axis=1),
         lambda t, k: {"a": k[0], "b": k[1]}, _linear),
    Form("constant", ("a",), "a", (), lambda u, t: _ones(u)[:, None], lambda t, k: {"a": k[0]}, _constant),
)}
CRITERIA = ("loo", "extrapolation", "aic")
STATISTICS = ("slope", "fit-advantage", "last", "param")


@dataclass(frozen=True)
class Fit:
    form: str
    params: dict[str, float]
    rmse: float  # in-sample
    aic: float
    at_bound: tuple[str, ...] = ()  # parameters the fit pushed to the edge of their range: not estimates

    def predict(self, u: np.ndarray) -> np.ndarray:
        return np.asarray(FORMS[self.form].fn(u, *self.params.values()), dtype=float)


class FitError(ValueError):
    """A form that cannot be fitted to the points (too few, or nothing finite)."""


def _linear_part(form: Form, u: np.ndarray, y: np.ndarray, theta: Theta) -> tuple[float, np.ndarray]:
    """(sum of squared errors, linear coefficients) at `theta`; a coefficient that must be positive
    and is not is dropped (held at zero), which is the constrained optimum for one coefficient."""
    with np.errstate(all="ignore"):
        cols = form.basis(u, theta)
    if not np.all(np.isfinite(cols)):
        return math.inf, np.zeros(cols.shape[1])
    coef = np.linalg.lstsq(cols, y, rcond=None)[0]
    if form.positive is not None and coef[form.positive] <= 0:
        keep = [i for i in range(cols.shape[1]) if i != form.positive]
        coef = np.zeros(cols.shape[1])
        coef[keep] = np.linalg.lstsq(cols[:, keep], y, rcond=None)[0]
    sse = float(np.sum((cols @ coef - y) ** 2))
    return (sse if math.isfinite(sse) else math.inf), coef


def fit(form_name: str, u: np.ndarray, y: np.ndarray) -> Fit:
    """Least-squares fit of one form (variable projection: grid, then Nelder-Mead)."""
    form = FORMS[form_name]
    u, y = np.asarray(u, dtype=float), np.asarray(y, dtype=float)
    k = len(form.params)
    if u.size < k + 1:
        raise FitError(f"{form.name} has {k} parameters and needs at least {k + 1} points, got {u.size}")
    if not (np.all(np.isfinite(y)) and np.all(u > 0)):
        raise FitError(f"{form.name}: the points must be finite, with a positive variable")
    grid = [tuple(map(float, t)) for t in np.array(np.meshgrid(*form.grids, indexing="ij")).reshape(
        len(form.grids), -1).T] if form.grids else [()]
    best = min(grid, key=lambda t: _linear_part(form, u, y, t)[0])
    if form.grids:
        lows = np.array([g.min() for g in form.grids])
        highs = np.array([g.max() for g in form.grids])
        res = minimize(lambda t: _linear_part(form, u, y, tuple(np.clip(t, lows, highs)))[0], np.array(best),
                       method="Nelder-Mead", options={"xatol": 1e-6, "fatol": 1e-14, "maxiter": 400})
        best = tuple(map(float, np.clip(res.x, lows, highs)))
    sse, coef = _linear_part(form, u, y, best)
    if not math.isfinite(sse):
        raise FitError(f"{form.name}: no finite fit")
    n = u.size
    aic = n * math.log(max(sse, 1e-300) / n) + 2 * k
    named = form.named(best, coef)
    edges = [name for name, t, g in zip(form.nonlinear, best, form.grids, strict=True)
             if math.isclose(t, float(g.min()), rel_tol=1e-6) or math.isclose(t, float(g.max()), rel_tol=1e-6)]
    if form.positive is not None and coef[form.positive] <= 0:
        edges.append(form.positive_name)
    return Fit(form.name, {p: float(named[p]) for p in form.params}, math.sqrt(sse / n), aic, tuple(edges))


def heldout_error(form_name: str, u: np.ndarray, y: np.ndarray, criterion: str) -> float:
    """How well the form predicts points it was not fitted to: the root mean square error of
    leave-one-out predictions (`loo`), or of the largest quarter of the variable (at least two
    points) predicted from the rest (`extrapolation`, a law's use). `aic` returns the AIC."""
    if criterion not in CRITERIA:
        raise ValueError(f"unknown criterion {criterion!r} (expected one of {', '.join(CRITERIA)})")
    if criterion == "aic":
        return fit(form_name, u, y).aic
    order = np.argsort(u)
    u, y = np.asarray(u, dtype=float)[order], np.asarray(y, dtype=float)[order]
    if criterion == "extrapolation":
        held = max(2, u.size // 4)
        f = fit(form_name, u[:-held], y[:-held])
        return float(np.sqrt(np.mean((f.predict(u[-held:]) - y[-held:]) ** 2)))
    errors = []
    for i in range(u.size):
        keep = np.arange(u.size) != i
        errors.append(float(fit(form_name, u[keep], y[keep]).predict(u[i:i + 1])[0] - y[i]))
    return float(np.sqrt(np.mean(np.square(errors))))


def advantage(form_name: str, alternatives: Sequence[str], u: np.ndarray, y: np.ndarray, criterion: str) -> float:
    """How much better the claimed form predicts held-out points than the best alternative: the
    alternative's error over the form's (above 1: the claimed form wins). For `aic`, the evidence
    ratio exp((AIC_alt - AIC_form) / 2)."""
    own = heldout_error(form_name, u, y, criterion)
    best_alt = min(heldout_error(a, u, y, criterion) for a in alternatives)
    if criterion == "aic":
        return math.exp(min(700.0, (best_alt - own) / 2))
    if own <= 0:
        return math.inf if best_alt > 0 else 1.0
    return best_alt / own


def slope(x: np.ndarray, y: np.ndarray, late: float) -> float:
    """Least-squares slope of y against ln(x) over the latest `late` fraction of the points (at
    least two): the direction of the trend where the law is supposed to hold."""
    order = np.argsort(x)
    x, y = np.asarray(x, dtype=float)[order], np.asarray(y, dtype=float)[order]
    keep = max(2, math.ceil(late * x.size))
    lx = np.log(x[-keep:])
    return float(np.polyfit(lx, y[-keep:], 1)[0])


def statistic(spec: Mapping[str, Any], x: np.ndarray, y: np.ndarray) -> float:
    """The claim's statistic for one seed's points. `spec`: statistic, form, alternatives,
    criterion, param, late (the claim's options)."""
    kind = spec["statistic"]
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if kind == "slope":
        return slope(x, y, float(spec.get("late", 0.5)))
    if kind == "last":
        return float(y[np.argmax(x)])
    u = x / x.max()
    if kind == "fit-advantage":
        value = advantage(spec["form"], spec["alternatives"], u, y, spec.get("criterion", "loo"))
        if not 0 < value < math.inf:
            raise FitError(f"a form predicts these points exactly (held-out error ratio {value}): no noise to "
                           "tell the forms apart")
        # A fit that is not the claimed law (a parameter at the edge of its range, or the curve running
        # against the claimed direction) is evidence against the claim, the more so the better it
        # predicts: its advantage counts inverted (2x better the wrong way reads as 0.5).
        return min(value, 1.0 / value) if claimed_fit_problem(spec, u, y) else value
    if kind == "param":
        f = fit(spec["form"], u, y)
        if spec["param"] in f.at_bound:
            raise FitError(f"{spec['form']}'s {spec['param']} ended at the edge of its range "
                           f"({f.params[spec['param']]:.4g}): the form does not describe these points")
        return f.params[spec["param"]]
    raise ValueError(f"unknown statistic {kind!r} (expected one of {', '.join(STATISTICS)})")


DIRECTIONS = ("increasing", "decreasing")


def claimed_fit_problem(spec: Mapping[str, Any], u: np.ndarray, y: np.ndarray) -> str | None:
    """Why the claimed form's fit to these points is not the law the claim states, or None: a
    parameter stuck at the edge of its range (the form degenerates into another), or a fitted
    curve that runs against the claim's `direction` over the points."""
    f = fit(spec["form"], u, y)
    if f.at_bound:
        return f"{spec['form']}'s {', '.join(f.at_bound)} ended at the edge of its range"
    direction = spec.get("direction")
    if direction is not None:
        ends = f.predict(np.array([float(np.min(u)), float(np.max(u))]))
        rise = float(ends[1] - ends[0])
        if (rise <= 0) if direction == "increasing" else (rise >= 0):
            return f"the fitted {spec['form']} is not {direction} (it changes by {rise:+.3g} over the points)"
    return None


