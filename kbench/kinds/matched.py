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
candidate's (matched-error, above 1 when the candidate fits better), with a Student t interval
over seeds; a difference inside the seed-to-seed noise is `inconclusive`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from kbench import data, registry, stats, training
from kbench.errors import SuiteError
from kbench.kinds.base import CaseValue, ClaimLike, Context, Failed, Kind, NotJudged, Skip, by_role
from kbench.kinds.models import check_model, count_flops, match_width, params_of
from kbench.params import Param
from kbench.results import Measurement

SIDE = {"model": Param(str, "a registered model family", required=True),
        "impl": Param(str, "the implementation of the family's pluggable operation"),
        "size": Param(str, "a preset of the family (default: its first)"),
        "arch": Param(dict, "architecture keywords of this side (its own hyperparameters)")}
CASE = {"task": Param(str, "a kbench.data task: digits, mnist5k, mnist1d, wine, breast_cancer, symbolic/<name>",
                      required=True),
        "params": Param(int, "the parameter budget both sides are matched to (absent: the architectures as given)",
                        low=10, high=10**10),
        "label": Param(str, "how tables name the case"),
        "paper_value": Param(float, "the paper's value for this case (its conditions)", low=-1e300)}
OPTIONS = {"seeds": Param(int, "training runs per side, paired by seed", default=5, low=2, high=100),
           "epochs": Param(int, "epochs per training run", default=20, low=1, high=10000),
           "batch": Param(int, "examples per step", default=64, low=1, high=65536),
           "lr_grid": Param(list, "learning rates each side is tuned over (the same grid: the same budget)",
                            item=float, low=1, high=12, item_low=1e-7, item_high=10.0, default=[1e-3, 3e-3, 1e-2]),
           "tolerance": Param(float, "how far a matched parameter count may be from the budget", default=0.1,
                              low=0.001, high=0.5)}


class _Side:
    """One side of a matched comparison on one case: its model, tuning and seed runs."""

    def __init__(self, subject: Any, case: Mapping[str, Any], task: data.Task, ctx: Context, claim: Any) -> None:
        self.subject, self.case, self.ctx, self.claim = subject, case, ctx, claim
        self.family = registry.model_family(subject.model)
        self.size = subject.fields.get("size") or self.family.sizes[0]
        arch = self.family.for_task(self.family.arch(self.size, subject.fields.get("arch")), task.input_shape,
                                    task.num_classes)
        self.params = params_of(self.family, self.size, arch)
        if "params" in case:
            arch, self.params = match_width(self.family, self.size, arch, int(case["params"]),
                                            float(claim.options["tolerance"]))
        self.arch = arch
        self.scores: list[float] = []
        self.tuning: dict[str, float] = {}
        self.lr = 0.0

    def model(self, seed: int) -> torch.nn.Module:
        torch.manual_seed(seed)
        return self.family.create(self.size, self.subject.impl, self.arch).to(self.ctx.device)

    def config(self, lr: float) -> training.TrainConfig:
        epochs = self.ctx.scaled(int(self.claim.options["epochs"]), 1)
        return training.TrainConfig(epochs, int(self.claim.options["batch"]), lr)

    def tune(self, prepared: training.Prepared, better: str) -> None:
        for lr in self.claim.options["lr_grid"]:
            self.ctx.progress(f"{self.subject.label} {self.case.get('task')}: tuning, learning rate {lr:g}")
            model = training.fit(self.model(10_000), prepared, self.config(lr), seed=10_000)
            self.tuning[f"{lr:g}"] = training.score(model, prepared, "val")
        pick = max if better == "higher" else min
        self.lr = float(pick(self.tuning.items(), key=lambda kv: kv[1])[0])

    def run_seed(self, prepared: training.Prepared, seed: int) -> None:
        model = training.fit(self.model(seed), prepared, self.config(self.lr), seed=seed)
        self.scores.append(training.score(model, prepared, "test"))

    def measurement(self, task: data.Task, metric: str, better: str) -> Measurement:
        flops = count_flops(_meta(self.family, self.size, self.arch), self.family.input_shape(self.arch))
        seeds = list(range(len(self.scores)))
        return Measurement(
            case=dict(self.case), subject=self.subject.as_dict(), metric=metric,
            unit="fraction" if metric == "accuracy" else "target units", better=better,  # type: ignore[arg-type]
            noise="seeds", samples=list(self.scores), groups=seeds, device_independent=True,
            summary=stats.summarize(self.scores, seeds).as_dict(),
            extra={"params": self.params, "flops": flops, "arch": self.arch, "size": self.size, "lr": self.lr,
                   "tuning": self.tuning, "training": training.describe(self.config(self.lr)),
                   "budget": self.case.get("params"), "data": task.describe()})


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
    task_kind = "classification"
    metric, better = "accuracy", "higher"

    def check_references(self, claim: Any, path: str, where: str) -> None:
        families = registry.model_families()
        for role in self.sides:
            subject = claim.side(role)
            if subject.model not in families:
                raise SuiteError(path, f"{where}.{role}.model", f"a model family ({', '.join(sorted(families))})",
                                 subject.model)
            family = families[subject.model]
            if family.plugs is not None:
                from kbench.suite import check_impl

                if subject.impl is None:
                    raise SuiteError(path, f"{where}.{role}.impl",
                                     f"the implementation of {family.plugs!r} that {family.name!r} uses")
                check_impl(path, f"{where}.{role}.impl", family.plugs, subject.impl)
            size = subject.fields.get("size")
            if size is not None and size not in family.presets:
                raise SuiteError(path, f"{where}.{role}.size", f"a size of {family.name} ({', '.join(family.sizes)})",
                                 size)
            for name in subject.fields.get("arch") or {}:
                if name not in family.arch_keys:
                    raise SuiteError(path, f"{where}.{role}.arch.{name}",
                                     f"an architecture keyword of {family.name} ({', '.join(family.arch_keys)})")
        for key, cases in (("cases", claim.cases), ("cpu_cases", claim.cpu_cases or ())):
            for i, case in enumerate(cases):
                if case["task"] not in data.names():
                    raise SuiteError(path, f"{where}.{key}[{i}].task", f"a task ({', '.join(data.names())})",
                                     case["task"])

    def collect(self, claim: Any, ctx: Context) -> None:
        for case in claim.cases_for(ctx.device.type):
            try:
                task = data.load(case["task"])
            except data.DataError as exc:
                raise Skip(str(exc)) from None
            if task.kind != self.task_kind:
                raise Failed(f"task {task.name} is {task.kind}; {self.name} compares {self.task_kind} tasks")
            self._collect_case(claim, case, task, ctx)

    def _collect_case(self, claim: Any, case: Mapping[str, Any], task: data.Task, ctx: Context) -> None:
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
                    side.run_seed(prepared, seed)
        except KeyboardInterrupt:
            for role, side in zip(self.sides, sides, strict=True):
                if side.scores:
                    m = side.measurement(task, self.metric, self.better)
                    m.status, m.reason = "skipped", f"interrupted after {len(side.scores)} seed(s)"
                    ctx.record(m, role)
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
        return [b[s] for s in seeds], [c[s] for s in seeds], base, cand

    @staticmethod
    def _details(base: Mapping[str, Any], cand: Mapping[str, Any], b: list[float], c: list[float]
                 ) -> dict[str, Any]:
        def side(m: Mapping[str, Any], values: list[float]) -> dict[str, Any]:
            return {"mean": float(np.mean(values)), "params": m["extra"].get("params"), "lr": m["extra"].get("lr"),
                    "arch": m["extra"].get("arch")}

        return {"baseline": side(base, b), "candidate": side(cand, c), "seeds": len(b)}


class MatchedAccuracy(_Matched):
    name = "matched-accuracy"
    description = "test accuracy of candidate minus baseline at matched parameters, equal tuning, paired by seed"
    combine = "mean"
    unit = "accuracy difference"

    def evaluate(self, claim: ClaimLike, case: Mapping[str, Any], measurements: Sequence[Mapping[str, Any]],
                 peaks: Mapping[str, Any]) -> list[CaseValue]:
        b, c, base, cand = self._pairs(measurements)
        diffs = [y - x for x, y in zip(b, c, strict=True)]
        return [CaseValue(case, stats.Estimate.from_values(diffs, "linear"), self._details(base, cand, b, c))]


class MatchedError(_Matched):
    name = "matched-error"
    description = "test RMSE of baseline over candidate at matched parameters, equal tuning, paired by seed"
    task_kind = "regression"
    metric, better = "rmse", "lower"
    unit = "x lower error"

    def evaluate(self, claim: ClaimLike, case: Mapping[str, Any], measurements: Sequence[Mapping[str, Any]],
                 peaks: Mapping[str, Any]) -> list[CaseValue]:
        b, c, base, cand = self._pairs(measurements)
        if min(b + c) <= 0 or not all(np.isfinite(b + c)):
            raise NotJudged("an error of zero or infinity makes the ratio undefined")
        return [CaseValue(case, stats.paired_log_ratio(b, c), self._details(base, cand, b, c))]
