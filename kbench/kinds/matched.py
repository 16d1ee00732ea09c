"""Parameter-matched comparisons: matched-accuracy (classification) and matched-error (regression).

Two model families, one task (kbench.data), one parameter budget. Each side's width is searched
so its parameter count comes closest to the budget (within `tolerance`, or the claim is an
error); both counts, the FLOPs and the chosen architecture are recorded. Each side then gets the
same tuning budget: one training run per learning rate of the claim's grid, scored on the
validation split, the best kept. With that rate each side trains once per seed (the seed fixes
the initial weights and the batch order) and is scored on the test split; the sides alternate
seed by seed, so an interrupted run keeps pairs. A plugged implementation (KAT's rational) is
checked against float64 inside the model before any training.

The verdict compares the sides paired by seed: the candidate's accuracy minus the baseline's
(matched-accuracy, in accuracy points as a fraction), or the baseline's error over the
candidate's (matched-error, above 1 when the candidate fits better). Its interval holds two
kinds of noise: seed to seed (a Student t interval over the paired seeds) and the test set's
own sampling (the per-example outcomes, averaged over seeds, paired between the sides: a test
set of 36 examples cannot show a 1% difference however many seeds run). A difference inside
that noise is `inconclusive`. Several tasks stand for a family ("symbolic regression"), so by
default their spread counts in the combined interval too (combine = "sampled-mean" /
"sampled-geomean").
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from kbench import data, stats, training
from kbench.claims import Claim
from kbench.errors import SuiteError
from kbench.kinds._matched_side import Diverged, Side, resolve, set_for_you
from kbench.kinds._model_building import (
    check_model,
    check_side,
    check_trainable,
)
from kbench.kinds.base import CaseValue, Context, Failed, Kind, NotJudged, Skip, by_role
from kbench.params import Param

ACCURACY_DIFFERENCE = (-1.0, 1.0)  # candidate minus baseline accuracy can be nothing else
SIDE = {"model": Param(str, "a registered model family", required=True),
        "impl": Param(str, "the implementation of the family's pluggable operation"),
        "size": Param(str, "a preset of the family (default: its first)"),
        "arch": Param(dict, "architecture keywords of this side (its own hyperparameters)")}
CASE = {"task": Param(str, "a kbench.data task: digits, mnist5k, mnist1d, wine, breast_cancer, symbolic/<name>",
                      required=True),
        "params": Param(int, "the parameter budget both sides are matched to (absent: the architectures as given)",
                        low=10, high=10**9),
        "label": Param(str, "how tables name the case"),
        "paper_value": Param(float, "the paper's value for this case (its conditions)", low=-1e300)}
OPTIONS = {"seeds": Param(int, "training runs per side, paired by seed", default=5, low=2, high=100),
           "epochs": Param(int, "epochs per training run", default=20, low=1, high=10000),
           "batch": Param(int, "examples per step", default=64, low=1, high=65536),
           "lr_grid": Param(list, "learning rates each side is tuned over (the same grid: the same budget)",
                            item=float, low=1, high=12, item_low=1e-7, item_high=10.0, default=[1e-3, 3e-3, 1e-2]),
           "tolerance": Param(float, "how far a matched parameter count may be from the budget", default=0.1,
                              low=0.001, high=0.5),
           "tune_budget": Param(int, "most tuning runs per side, the same for both: while a side's best learning rate "
                                     "is at an edge of what it tried, the grid extends geometrically past that edge",
                                default=6, low=1, high=50)}
COLLAPSE = {"classification": ("accuracy", 0.05), "regression": ("rmse", 2.0)}
COLLAPSE_TEXT = {"classification": "test accuracy more than {t:g} below its side's median seed",
                 "regression": "test RMSE more than {t:g} times its side's median seed"}


class _Matched(Kind):
    sides = ("baseline", "candidate")
    side_params = SIDE
    case_params = CASE
    options = OPTIONS
    needs_operation = False
    replicated = True
    task_kind = "classification"
    metric, better = "accuracy", "higher"
    cost_unit = 0.5  # seconds per epoch of one training run (a small model on a packaged task)

    def cost(self, claim: Claim) -> float:
        runs = int(claim.options["seeds"]) + len(claim.options["lr_grid"])  # seed runs and tuning runs
        return self.cost_unit * len(claim.cases) * len(self.sides) * runs * int(claim.options["epochs"])

    def check_references(self, claim: Claim, path: str, where: str) -> None:
        for role in self.sides:
            check_side(claim.side(role), path, f"{where}.{role}")
        grid = list(claim.options["lr_grid"])
        if len(set(grid)) != len(grid):
            raise SuiteError(path, f"{where}.options.lr_grid", "distinct learning rates (each is one tuning run)", grid)
        self._check_rule(claim, path, where)
        for key, cases in (("cases", claim.cases), ("cpu_cases", claim.cpu_cases or ())):
            for i, case in enumerate(cases):
                if case["task"] not in data.names():
                    raise SuiteError(path, f"{where}.{key}[{i}].task", f"a task ({', '.join(data.names())})",
                                     case["task"])
                if data.kind_of(case["task"]) != self.task_kind:
                    raise SuiteError(path, f"{where}.{key}[{i}].task", f"a {self.task_kind} task for {self.name} "
                                     f"({case['task']} is {data.kind_of(case['task'])})", case["task"])
                self._check_models(claim, case, path, f"{where}.{key}[{i}]")

    def _check_rule(self, claim: Claim, path: str, where: str) -> None:
        low, high = self.bounds or (0.0, math.inf)  # an error ratio is positive
        for side in ("at_least", "at_most"):
            bound = getattr(claim.rule, side)
            if bound is not None and not claim.rule.of_paper and not low <= bound <= high:
                raise SuiteError(path, f"{where}.rule.{side}", f"a bound the {self.unit} can reach ({low:g} to "
                                 f"{high:g})", bound)

    def _check_models(self, claim: Claim, case: Mapping[str, Any], path: str, where: str) -> None:
        """Each side builds for the case's task, and no architecture keyword it gives is replaced."""
        try:
            task = data.load(case["task"])
        except data.DataError:
            return  # its package is missing: the run will skip the case and say why
        for role in self.sides:
            subject = claim.side(role)
            try:
                family, _, arch, params, _ = resolve(subject, case, task, claim)
            except Failed as exc:
                raise SuiteError(path, f"{where} ({role})", "an architecture its family can build for the task",
                                 str(exc)) from None
            check_trainable(params, path, f"{where.split('.')[0]}.{role}")
            replaced = set_for_you(subject, case, family, arch)
            if replaced is not None:
                raise SuiteError(path, f"{where.split('.')[0]}.{role}.arch.{replaced[0]}",
                                 f"no {replaced[0]}: it is set by {replaced[1]}")

    def collect(self, claim: Claim, ctx: Context) -> None:
        for case in claim.cases_for(ctx.device.type):
            try:
                task = data.load(case["task"], ctx.seed_for("split"))  # each master seed its own split
            except data.DataError as exc:
                raise Skip(str(exc)) from None
            if task.kind != self.task_kind:
                raise Failed(f"task {task.name} is {task.kind}; {self.name} compares {self.task_kind} tasks")
            self._collect_case(claim, case, task, ctx)

    def _collect_case(self, claim: Claim, case: Mapping[str, Any], task: data.Task, ctx: Context) -> None:
        sides = [Side(claim.side(role), case, task, ctx, claim) for role in self.sides]
        for side in sides:
            if side.family.plugs is not None:
                check_model(side.subject, {"size": side.size, "arch": side.arch}, ctx)
        prepared = training.prepare(task, ctx.device)
        for side in sides:
            side.tune(prepared, self.better)
        seeds = ctx.scaled(int(claim.options["seeds"]), 2)
        try:
            for seed in range(seeds):
                for side in sides:
                    ctx.progress(f"{side.subject.label} {task.name}: seed {seed + 1}/{seeds}")
                    side.run_seed(prepared, ctx.seed_for("train", seed))  # pragma: no mutate (any label)
        except (KeyboardInterrupt, Diverged) as stop:  # keep the seeds run so far, marked, then stop
            status, why = (("skipped", "interrupted") if isinstance(stop, KeyboardInterrupt) else ("error", str(stop)))
            for role, side in zip(self.sides, sides, strict=True):
                if side.scores:
                    m = side.measurement(task, self.metric, self.better)
                    m.status, m.reason = status, f"{why} after {len(side.scores)} seed(s)"  # type: ignore[assignment]
                    ctx.record(m, role)
            if isinstance(stop, Diverged):
                raise Failed(str(stop)) from None
            raise
        for role, side in zip(self.sides, sides, strict=True):
            ctx.record(side.measurement(task, self.metric, self.better), role)

    def _pairs(self, measurements: Sequence[Mapping[str, Any]]) -> tuple[list[float], list[float],
                                                                         Mapping[str, Any], Mapping[str, Any]]:
        base, cand = by_role(measurements, "baseline", self.metric), by_role(measurements, "candidate", self.metric)
        b = dict(zip(base["groups"], base["samples"], strict=True))
        c = dict(zip(cand["groups"], cand["samples"], strict=True))
        seeds = [s for s in b if s in c]
        if len(seeds) < 1:
            raise NotJudged("no seed was run on both sides")
        drawn = [dict(zip(m["groups"], m["extra"].get("train_seeds") or [], strict=False)) for m in (base, cand)]
        if all(drawn) and any(drawn[0].get(s) != drawn[1].get(s) for s in seeds):
            raise NotJudged("the sides were trained on different seeds, so the pairs are not pairs "
                            f"(baseline {list(drawn[0].values())}, candidate {list(drawn[1].values())})")
        return [b[s] for s in seeds], [c[s] for s in seeds], base, cand

    @staticmethod
    def _details(base: Mapping[str, Any], cand: Mapping[str, Any], b: list[float], c: list[float]
                 ) -> dict[str, Any]:
        def side(m: Mapping[str, Any], values: list[float]) -> dict[str, Any]:
            return {"mean": float(np.mean(values)), "params": m["extra"].get("params"), "lr": m["extra"].get("lr"),
                    "arch": m["extra"].get("arch")}

        return {"baseline": side(base, b), "candidate": side(cand, c), "seeds": len(b)}

    def _checked(self, case: Mapping[str, Any], est: stats.Estimate, details: dict[str, Any],
                 measured: tuple[Mapping[str, Any], Mapping[str, Any], list[float], list[float]],
                 effects: list[float]) -> CaseValue:
        """The case's value with what a reader must know beside it: collapsed seeds per side (their
        own statistic, not hidden in the mean), the smallest effect these seeds could detect, and a
        block when either side's tuning stopped at an edge of its grid."""
        base, cand, b, c = measured
        what, threshold = COLLAPSE[self.task_kind]
        criterion = COLLAPSE_TEXT[self.task_kind].format(t=threshold)
        notes: list[str] = []
        details["failures"] = {"criterion": criterion}
        for role, m, values in (("baseline", base, b), ("candidate", cand, c)):
            median = float(np.median(values))
            bad = [v for v in values if (v < median - threshold if what == "accuracy" else v > threshold * median)]
            details["failures"][role] = {"collapsed": len(bad), "of": len(values), "values": bad}
            if bad:
                notes.append(f"{m['subject'].get('model', role)} ({role}) collapsed on {len(bad)} of {len(values)} "
                             f"seeds ({', '.join(f'{v:.3g}' for v in bad)}; criterion: {criterion})")
        details["detectable"] = _detectable(effects, self.unit)
        blocks = [f"tuning censored: {m['extra']['tuning_censored']}" for m in (base, cand)
                  if m["extra"].get("tuning_censored")]
        return CaseValue(case, est, details, notes, blocks=blocks)


def _detectable(effects: list[float], unit: str) -> dict[str, Any] | None:
    """The smallest true effect these paired seeds would show at 95% confidence with 80% power,
    from their own spread (kbench.stats.power), on the effect's scale."""
    if len(effects) < 2:
        return None
    est = stats.Estimate.from_values(effects, "linear")
    found = stats.power(est, 0.0)
    size = found.detectable if found is not None else 0.0
    return {"effect": size, "scale": unit, "power": stats.POWER, "seeds": len(effects)}


def _per_example(base: Mapping[str, Any], cand: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray] | None:
    """The sides' per-example outcomes (averaged over seeds), when both recorded them for one test set."""
    b, c = (np.asarray(m["extra"].get("per_example") or [], dtype=np.float64) for m in (base, cand))
    return (b, c) if b.size > 1 and b.size == c.size else None


def _with_test_noise(seeds: stats.Estimate, se: float, n: int, details: dict[str, Any]) -> stats.Estimate:
    details["test_set"] = {"examples": n, "se": se}
    return stats.add_noise(seeds, se, float(n - 1))


class MatchedAccuracy(_Matched):
    name = "matched-accuracy"
    description = "test accuracy of candidate minus baseline at matched parameters, equal tuning, paired by seed"
    combine = "sampled-mean"
    unit = "accuracy difference"
    bounds = ACCURACY_DIFFERENCE

    def evaluate(self, claim: Claim, case: Mapping[str, Any], measurements: Sequence[Mapping[str, Any]],
                 peaks: Mapping[str, Any]) -> list[CaseValue]:
        """Seed-paired differences, widened by the test set's sampling noise (the per-example
        differences of the seed-averaged outcomes), and kept inside [-1, 1]."""
        b, c, base, cand = self._pairs(measurements)
        details = self._details(base, cand, b, c)
        effects = [y - x for x, y in zip(b, c, strict=True)]
        est = stats.Estimate.from_values(effects, "linear")
        outcomes = _per_example(base, cand)
        if outcomes is not None:
            diff = outcomes[1] - outcomes[0]
            est = _with_test_noise(est, float(np.std(diff, ddof=1) / np.sqrt(diff.size)), diff.size, details)
        checked = self._checked(case, stats.clipped(est, *ACCURACY_DIFFERENCE), details, (base, cand, b, c), effects)
        checked.notes += _at_chance(base, cand, b, c)
        return [checked]


def _at_chance(base: Mapping[str, Any], cand: Mapping[str, Any], b: list[float], c: list[float]) -> list[str]:
    """Notes for a side whose test accuracy is no better than guessing: within two standard
    errors (over its seeds) of the larger of 1 / classes and the test set's majority share."""
    notes = []
    for m, values in ((base, b), (cand, c)):
        data = m["extra"].get("data") or {}
        classes = int(data.get("num_classes") or 0)
        if classes < 2 or len(values) < 2:
            continue
        chance = max(1.0 / classes, float(m["extra"].get("majority_share") or 0.0))
        se = float(np.std(values, ddof=1) / math.sqrt(len(values)))
        if float(np.mean(values)) <= chance + 2 * se + 1e-9:
            notes.append(f"{m['subject'].get('model')} trained to chance level: test accuracy {np.mean(values):.3f} "
                         f"against {chance:.3f} by guessing; a comparison with a model that learned nothing says "
                         "little about either")
    return notes


class MatchedError(_Matched):
    name = "matched-error"
    description = "test RMSE of baseline over candidate at matched parameters, equal tuning, paired by seed"
    combine = "sampled-geomean"
    task_kind = "regression"
    metric, better = "rmse", "lower"
    unit = "x lower error"

    def evaluate(self, claim: Claim, case: Mapping[str, Any], measurements: Sequence[Mapping[str, Any]],
                 peaks: Mapping[str, Any]) -> list[CaseValue]:
        """Seed-paired RMSE ratios, widened by the test set's sampling noise: by the delta method,
        log(RMSE_b / RMSE_c) = (log MSE_b - log MSE_c) / 2 has standard error sd(u) / (2 sqrt(n)),
        u_i = e_b,i / MSE_b - e_c,i / MSE_c over the examples' seed-averaged squared errors."""
        b, c, base, cand = self._pairs(measurements)
        if min(b + c) <= 0 or not all(np.isfinite(b + c)):
            raise NotJudged("an error of zero or infinity makes the ratio undefined")
        details = self._details(base, cand, b, c)
        est = stats.paired_log_ratio(b, c)
        outcomes = _per_example(base, cand)
        if outcomes is not None and outcomes[0].mean() > 0 and outcomes[1].mean() > 0:
            u = outcomes[0] / outcomes[0].mean() - outcomes[1] / outcomes[1].mean()
            est = _with_test_noise(est, float(np.std(u, ddof=1) / (2 * np.sqrt(u.size))), u.size, details)
        effects = [math.log(x / y) for x, y in zip(b, c, strict=True)]
        return [self._checked(case, est, details, (base, cand, b, c), effects)]
