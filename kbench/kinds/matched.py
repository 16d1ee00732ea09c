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
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from kbench import correctness, data, registry, stats, training
from kbench.claims import Claim, Subject
from kbench.errors import SuiteError
from kbench.kinds._model_building import (
    BYTES_PER_PARAMETER,
    architecture,
    check_model,
    check_side,
    check_trainable,
    count_flops,
    params_of,
)
from kbench.kinds.base import CaseValue, Context, Failed, Kind, NotJudged, Skip, by_role
from kbench.params import Param
from kbench.results import Measurement

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
TUNE_TOLERANCE = 0.002  # an edge rate within 0.2% (relative) of the best other rate is a plateau, not an edge
EVAL_CHECK = 256  # test inputs a plugged model is checked on in evaluation, before its score counts




class _Diverged(Exception):
    """A training run whose score is not finite (NaN loss): the claim stops with what it has."""


def _memory_bytes(device: torch.device) -> int:
    if device.type == "cuda":
        return int(torch.cuda.get_device_properties(device).total_memory)
    return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))


def resolve(subject: Subject, case: Mapping[str, Any], task: data.Task, claim: Claim
            ) -> tuple[registry.ModelFamily, str, dict[str, Any], int, int]:
    """A side's family, preset, architecture for the task (inputs and outputs set by the task, the
    width searched to the case's parameter budget), parameter count and forward FLOPs; Failed when
    the family cannot build it. `kbench validate` runs this too, so a bad architecture fails before
    training."""
    family = registry.model_family(subject.model)
    try:
        family, size, arch = architecture(subject, case, task, float(claim.options["tolerance"]))
        params = params_of(family, size, arch)
        flops = count_flops(_meta(family, size, arch), family.input_shape(arch))  # a forward pass on no memory
    except (ValueError, TypeError, RuntimeError, AssertionError, ZeroDivisionError) as exc:
        raise Failed(f"{subject.label}: model family {family.name!r} cannot build this architecture for task "
                     f"{task.name} (inputs {task.input_shape}): {exc}") from None
    return family, size, arch, params, flops


def _set_for_you(subject: Subject, case: Mapping[str, Any], family: registry.ModelFamily, arch: Mapping[str, Any]
                 ) -> tuple[str, str] | None:
    """An architecture keyword the suite gives that the run would replace: (keyword, by what)."""
    for key, value in (subject.fields.get("arch") or {}).items():
        if key == family.width_key and "params" in case:
            return key, f"the width search for the case's {case['params']}-parameter budget"
        if arch.get(key) != value:
            return key, f"the task (it needs {key} = {arch.get(key)})"
    return None


class _Side:
    """One side of a matched comparison on one case: its model, tuning and seed runs."""

    def __init__(self, subject: Subject, case: Mapping[str, Any], task: data.Task, ctx: Context, claim: Claim) -> None:
        self.subject, self.case, self.ctx, self.claim = subject, case, ctx, claim
        self.family, self.size, arch, self.params, self.flops = resolve(subject, case, task, claim)
        if self.params * BYTES_PER_PARAMETER > _memory_bytes(ctx.device) // 2:
            raise Failed(f"{subject.label}: {self.params} parameters need about "
                         f"{self.params * BYTES_PER_PARAMETER / 2**30:.1f} GiB to train, more than half the "
                         f"{ctx.device.type} memory here")
        self.arch = arch
        self.scores: list[float] = []
        self.seeds: list[int] = []  # the training seed of each score: both sides must share them (pairing)
        self.outcomes: list[np.ndarray] = []  # per test example, per seed (kbench.training.per_example)
        self.tuning: dict[str, float] = {}
        self.censored: str | None = None  # why the tuning's best rate may not be the side's optimum
        self.lr = 0.0

    def model(self, seed: int) -> torch.nn.Module:
        torch.manual_seed(seed)
        return self.family.create(self.size, self.subject.impl, self.arch).to(self.ctx.device)

    def config(self, lr: float) -> training.TrainConfig:
        epochs = self.ctx.scaled(int(self.claim.options["epochs"]), 1)
        return training.TrainConfig(epochs, int(self.claim.options["batch"]), lr)

    def _try(self, prepared: training.Prepared, lr: float) -> None:
        self.ctx.progress(f"{self.subject.label} {self.case.get('task')}: tuning, learning rate {lr:g}")
        seed = self.ctx.seed_for("tune")  # one draw for every rate: the rates, not the draws, differ
        model = training.fit(self.model(seed), prepared, self.config(lr), seed=seed)
        self.tuning[f"{lr:g}"] = training.score(training.per_example(model, prepared, "val"), prepared.kind)

    def tune(self, prepared: training.Prepared, better: str) -> None:
        """The claim's grid, then geometric steps past whichever edge holds the best validation
        score, until the best is inside what was tried or the tuning budget is spent (censored)."""
        grid = sorted(float(lr) for lr in self.claim.options["lr_grid"])
        budget = max(int(self.claim.options["tune_budget"]), len(grid))
        for lr in grid:
            self._try(prepared, lr)
        while True:
            best, edge = self._best(better)
            if edge is None:
                break
            step = (grid[-1] / grid[-2] if edge == "largest" else grid[1] / grid[0]) if len(grid) > 1 else 3.0
            nxt = float(f"{best * step if edge == 'largest' else best / step:.3g}")
            if len(self.tuning) >= budget or not 1e-7 <= nxt <= 10.0 or f"{nxt:g}" in self.tuning:
                self.censored = (f"{self.subject.label}: the best learning rate {best:g} is the {edge} of the "
                                 f"{len(self.tuning)} tried (tuning budget {budget}); its optimum may lie beyond")
                break
            self._try(prepared, nxt)
        self.lr = best

    def _best(self, better: str) -> tuple[float, str | None]:
        """The best learning rate tried, and which edge of the tried rates it is at (None: inside, or
        a plateau: the edge within TUNE_TOLERANCE of the best other rate; a single rate tried is the
        largest, so a one-rate grid extends upwards first). Ties go to the smaller
        rate; a rate that diverged counts as tried and worse than any."""
        finite = sorted((float(lr), v) for lr, v in self.tuning.items() if np.isfinite(v))
        if not finite:
            raise Failed(f"{self.subject.label} {self.case.get('task')}: training diverged at every learning rate "
                         f"tried ({', '.join(self.tuning)})")
        sign = 1.0 if better == "higher" else -1.0
        top = max(sign * v for _, v in finite)
        best = next(lr for lr, v in finite if sign * v == top)
        tried = sorted(float(lr) for lr in self.tuning)
        edge = "largest" if best == tried[-1] else "smallest" if best == tried[0] else None
        if edge is None:
            return best, None
        others = [v for lr, v in finite if lr != best]
        if others and top - max(sign * v for v in others) <= TUNE_TOLERANCE * abs(top):
            return best, None  # flat at the edge: going further would change nothing that matters
        return best, edge

    def run_seed(self, prepared: training.Prepared, seed: int) -> None:
        model = training.fit(self.model(seed), prepared, self.config(self.lr), seed=seed)
        self._check_trained(model, prepared)
        outcomes = training.per_example(model, prepared, "test")
        value = training.score(outcomes, prepared.kind)
        if not np.isfinite(value):
            raise _Diverged(f"{self.subject.label} {self.case.get('task')}: seed {len(self.scores) + 1} diverged at "
                            f"learning rate {self.lr:g} (test score {value})")
        self.scores.append(value)
        self.seeds.append(seed)
        self.outcomes.append(outcomes)

    def _check_trained(self, model: torch.nn.Module, prepared: training.Prepared) -> None:
        """A model on a plugged implementation, trained, against the same weights on the reference
        implementation in float64, on a sample of the test inputs in evaluation (eval(), no_grad):
        the path its score reads, checked before it is scored."""
        if self.family.plugs is None or self.subject.impl is None:
            return
        op = registry.operation(self.family.plugs)
        ref = self.family.create(self.size, op.reference, self.arch).to(self.ctx.device)
        ref.load_state_dict(model.state_dict())
        x = prepared.test[0][:EVAL_CHECK]
        model.eval()
        ref.eval()
        with torch.no_grad():
            got, own = model(x), ref(x)
            gold = ref.double()(x.double())
        err = correctness.model_output_error(got, own, gold, 1)
        if not err.ok:
            check = correctness.Check(f"the trained model in evaluation on {x.shape[0]} test inputs",
                                      {"size": self.size}, {"logits": err})
            raise Failed(f"{self.subject.label} {self.case.get('task')}: {check.describe()}")

    def measurement(self, task: data.Task, metric: str, better: str) -> Measurement:
        seeds = list(range(len(self.scores)))
        return Measurement(
            case=dict(self.case), subject=self.subject.as_dict(), metric=metric,
            unit="fraction" if metric == "accuracy" else "target units", better=better,  # type: ignore[arg-type]
            noise="seeds", samples=list(self.scores), groups=seeds, device_independent=True,
            summary=stats.summarize(self.scores, seeds).as_dict(),
            extra={"params": self.params, "flops": self.flops, "arch": self.arch, "size": self.size, "lr": self.lr,
                   "tuning": self.tuning, "tuning_censored": self.censored, "train_seeds": list(self.seeds),
                   "training": training.describe(self.config(self.lr)),
                   "budget": self.case.get("params"), "data": task.describe(),
                   "majority_share": _majority(task),
                   # each test example's outcome, averaged over the seeds: the test set's sampling noise
                   "per_example": [round(float(v), 6) for v in np.mean(self.outcomes, axis=0)] if self.outcomes
                   else []})


def _majority(task: data.Task) -> float | None:
    """The test set's most common label's share (classification): what always guessing it scores."""
    if task.kind != "classification" or len(task.test.y) == 0:
        return None
    return float(np.bincount(np.asarray(task.test.y, dtype=np.int64)).max() / len(task.test.y))


def _meta(family: registry.ModelFamily, size: str, arch: Mapping[str, Any]) -> torch.nn.Module:
    ref = registry.operation(family.plugs).reference if family.plugs else None
    with torch.device("meta"):
        return family.create(size, ref, arch)


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
            replaced = _set_for_you(subject, case, family, arch)
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
        sides = [_Side(claim.side(role), case, task, ctx, claim) for role in self.sides]
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
        except (KeyboardInterrupt, _Diverged) as stop:  # keep the seeds run so far, marked, then stop
            status, why = (("skipped", "interrupted") if isinstance(stop, KeyboardInterrupt) else ("error", str(stop)))
            for role, side in zip(self.sides, sides, strict=True):
                if side.scores:
                    m = side.measurement(task, self.metric, self.better)
                    m.status, m.reason = status, f"{why} after {len(side.scores)} seed(s)"  # type: ignore[assignment]
                    ctx.record(m, role)
            if isinstance(stop, _Diverged):
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
