"""A law claim as a result file holds it: its spec (statistic, forms, criterion, neighbourhood)
checked, its points read back from the measurements as one table (points x seeds), and every
form fitted per seed for the gate and the report. Pure, like kbench.laws, which it builds on.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from kbench.laws import CRITERIA, DIRECTIONS, FORMS, STATISTICS, FitError, fit, heldout_error, statistic
from kbench.stats import Estimate


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
    if spec.get("criterion") != "extrapolation":
        return k + 2  # leave-one-out (and AIC): fitted to all points but one, each form needs k + 1
    # extrapolation holds out the largest quarter, at least two points: the rest must fit every form
    return min(n for n in range(k + 3, 4 * k + 12) if n - max(2, n // 4) >= k + 1)


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
