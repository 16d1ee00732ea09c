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

from kbench.stats import Estimate

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


def spec_problem(spec: Mapping[str, Any], points: int | None = None) -> str | None:
    """What is wrong with a law's statistic and forms (from a suite or a result file), or None."""
    stat, form, alts = spec.get("statistic"), spec.get("form"), spec.get("alternatives") or []
    if stat not in STATISTICS:
        return f"statistic: one of {', '.join(STATISTICS)} (got {stat!r})"
    if form is not None and form not in FORMS:
        return f"form: one of {', '.join(FORMS)} (got {form!r})"
    if not isinstance(alts, list) or any(a not in FORMS for a in alts) or len(set(alts)) != len(alts):
        return f"alternatives: distinct forms from {', '.join(FORMS)} (got {alts!r})"
    if spec.get("criterion", "loo") not in CRITERIA:
        return f"criterion: one of {', '.join(CRITERIA)} (got {spec.get('criterion')!r})"
    late = spec.get("late", 0.5)
    if isinstance(late, bool) or not isinstance(late, (int, float)) or not 0 < late <= 1:
        return f"late: a share of the points in (0, 1] (got {late!r})"
    direction = spec.get("direction")
    if direction is not None and (direction not in DIRECTIONS or stat != "fit-advantage"):
        return (f"direction: one of {', '.join(DIRECTIONS)}, for a fit-advantage statistic "
                f"(got {direction!r} with {stat!r})")
    problem = _neighbourhood_problem(spec.get("neighbourhood"))
    if problem:
        return problem
    if stat in ("fit-advantage", "param") and form is None:
        return f"statistic {stat!r} needs the claimed `form`"
    if stat == "fit-advantage" and (not alts or form in alts):
        return f"alternatives: forms other than the claimed one, at least one (got {alts})"
    if stat == "param" and spec.get("param") not in FORMS[str(form)].params:
        return f"param: one of {', '.join(FORMS[str(form)].params)} (the parameters of {form})"
    if points is not None:
        criteria = [spec.get("criterion", "loo"), *((spec.get("neighbourhood") or {}).get("criterion") or ())]
        need = max(points_needed({**spec, "criterion": c}) for c in criteria)
        if points < need:
            return f"at least {need} points to fit every form and hold points out (got {points})"
    return None


NEIGHBOURHOOD_KEYS = ("late", "criterion")


def _neighbourhood_problem(hood: Any) -> str | None:
    """What is wrong with a declared neighbourhood of analysis choices, or None."""
    if hood is None:
        return None
    if not isinstance(hood, Mapping) or any(k not in NEIGHBOURHOOD_KEYS for k in hood):
        return f"neighbourhood: an object with keys from {', '.join(NEIGHBOURHOOD_KEYS)} (got {hood!r})"
    for key, values in hood.items():
        if not isinstance(values, list) or not values:
            return f"neighbourhood.{key}: a non-empty list (got {values!r})"
        for v in values:
            ok = (v in CRITERIA) if key == "criterion" else (
                not isinstance(v, bool) and isinstance(v, (int, float)) and 0 < v <= 1)
            if not ok:
                expected = f"one of {', '.join(CRITERIA)}" if key == "criterion" else "a share in (0, 1]"
                return f"neighbourhood.{key}: each value {expected} (got {v!r})"
    return None


def points_needed(spec: Mapping[str, Any]) -> int:
    """The fewest points on which every form of the law can be fitted under its criterion."""
    forms = [f for f in (spec.get("form"), *(spec.get("alternatives") or ())) if f]
    k = max((len(FORMS[f].params) for f in forms), default=1)
    if spec.get("criterion", "loo") == "extrapolation":
        n = k + 3
        while n - max(2, n // 4) < k + 1:
            n += 1
        return n
    return k + 2


class PointsError(ValueError):
    """Measurements that do not make a law's table of points (too few, seeds missing, mixed laws)."""


def points_table(measurements: Sequence[Mapping[str, Any]], role: str
                 ) -> tuple[np.ndarray, np.ndarray, list[int], dict[str, Any]]:
    """(x, seeds x points, seed ids, law spec) of one side of a law claim, from its measurements
    as stored (one per point, one sample per seed, `extra.x` and `extra.law`); only the seeds
    measured at every point."""
    ms = [m for m in measurements if m.get("role") == role and m.get("status") == "ok" and m.get("samples")]
    for m in ms:
        x = (m.get("extra") or {}).get("x")
        if isinstance(x, bool) or not isinstance(x, (int, float)) or not 0 < x < math.inf:
            raise PointsError(f"the {role}'s measurement {m.get('metric')!r} has no positive amount extra.x "
                              f"(got {x!r})")
    if len(ms) < 3:
        raise PointsError(f"the {role} has {len(ms)} measured point(s); a law needs at least 3")
    ms.sort(key=lambda m: m["extra"]["x"])
    specs = {repr(sorted((m["extra"].get("law") or {}).items())) for m in ms}
    if len(specs) != 1 or not isinstance(ms[0]["extra"].get("law"), dict):
        raise PointsError(f"the {role}'s points do not share one law (statistic and forms)")
    per_point = [dict(zip(m.get("groups") or range(len(m["samples"])), m["samples"], strict=True)) for m in ms]
    seeds = sorted(set.intersection(*(set(p) for p in per_point)))
    if len(seeds) < 2:
        raise PointsError(f"fewer than 2 seeds of the {role} were measured at every point")
    x = np.array([float(m["extra"]["x"]) for m in ms])
    if np.any(x <= 0) or np.unique(x).size != x.size:
        raise PointsError(f"the {role}'s points are not distinct positive amounts")
    table = np.array([[float(p[s]) for p in per_point] for s in seeds])
    if not np.all(np.isfinite(table)):
        raise PointsError(f"a value of the {role} is not finite")
    if float(np.ptp(table)) <= 1e-9 * max(1.0, float(np.abs(table).max())):
        raise PointsError(f"the {role}'s quantity does not vary along the sweep (every value {table.flat[0]:.6g}): "
                          "no law can be fitted to it or told from another")
    spec = dict(ms[0]["extra"]["law"])
    problem = spec_problem(spec)
    if problem:
        raise PointsError(f"the {role}'s law is not one kbench can judge: {problem}")
    return x, table, seeds, spec


def fitted_per_seed(spec: Mapping[str, Any], x: np.ndarray, table: np.ndarray) -> dict[str, list[float]]:
    """Every fitted parameter of the law's forms, and its statistic, one value per seed (what the
    gate compares between runs); a form that cannot be fitted to some seed is left out."""
    u = np.asarray(x, dtype=float) / float(np.max(x))
    out: dict[str, list[float]] = {}
    try:
        out[f"statistic {spec['statistic']}"] = [statistic(spec, x, row) for row in table]
    except FitError:
        pass
    for form in [f for f in (spec.get("form"), *(spec.get("alternatives") or ())) if f]:
        try:
            fits = [fit(form, u, row) for row in table]
        except FitError:
            continue
        for p in FORMS[form].params:
            if not any(p in f.at_bound for f in fits):  # a bound is not an estimate: nothing to compare
                out[f"fit {form} {p}"] = [f.params[p] for f in fits]
    return {k: v for k, v in out.items() if all(math.isfinite(x) for x in v)}


def describe_fits(forms: Sequence[str], x: np.ndarray, per_seed: np.ndarray, criterion: str) -> dict[str, Any]:
    """Each form fitted to the mean over seeds (the curve a report draws), with every parameter's
    per-seed fits summarised (mean, and a Student t 95% interval when there are two seeds or more)."""
    x = np.asarray(x, dtype=float)
    u = x / x.max()
    out: dict[str, Any] = {}
    for name in forms:
        try:
            f = fit(name, u, per_seed.mean(axis=0))
            entry: dict[str, Any] = {"formula": FORMS[name].formula, "params": f.params, "rmse": f.rmse,
                                     "aic": f.aic, "heldout": heldout_error(name, u, per_seed.mean(axis=0),
                                                                            criterion), "at_bound": list(f.at_bound)}
        except FitError as exc:
            out[name] = {"formula": FORMS[name].formula, "error": str(exc)}
            continue
        intervals = {}
        try:
            seeds = [fit(name, u, row).params for row in per_seed]
        except FitError:
            seeds = []
        for p in FORMS[name].params:
            values = [s[p] for s in seeds]
            est = Estimate.from_values(values, "linear") if values else None
            intervals[p] = [est.low, est.high] if est is not None and est.has_interval else None
        entry["intervals"] = intervals
        out[name] = entry
    out["x_scale"] = float(x.max())
    return out
