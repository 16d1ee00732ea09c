"""Laws as claims: a quantity measured along a sweep, functional forms fitted, a statistic judged.

`law` (one subject): a model family is trained once per seed, and a quantity (kbench.sparsity's
PPL-p% activation ratio or the nonzero fraction of FFN activations) is measured at each point
of a sweep: amounts of data trained on (checkpoints of one run: tokens of text, or examples of
an image task), widths or depths (a model per width or depth, each trained on the same amount of
data). Each point is one measurement with one sample per seed. The claim judges one statistic of
each seed's points (kbench.laws):

- `slope`: the slope of the quantity against ln(x) over the latest points (a trend's direction);
- `fit-advantage`: how much better the claimed form predicts held-out points than the best of
  the alternatives (above 1: the claimed form fits best);
- `param`: a fitted parameter of the claimed form (an exponent's sign, a limit);
- `last`: the quantity at the largest x.

Its interval is a Student t interval over the seeds. The verdict's details keep every form's
fit to the mean curve with per-parameter intervals, which the report draws and the gate compares.

`law-ratio` (baseline and candidate, e.g. SiLU and ReLU): the same statistic for both sides,
paired by seed, baseline over candidate ("ReLU is sparser": SiLU's activation ratio over ReLU's
above 1).

What the statistic is and how forms are fitted is stored with every measurement (`extra.law`),
so a result file is judged the same way wherever it is read.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from kbench import law_records, laws, registry, stats
from kbench.claims import Claim
from kbench.errors import SuiteError
from kbench.kinds._law_checks import check_case, check_family
from kbench.kinds._law_series import SIZE_SWEEPS, TEXT_TASK, Series
from kbench.kinds._law_spec import SPEC_DEFAULTS
from kbench.kinds._model_building import check_side
from kbench.kinds.base import CaseValue, Context, Kind, NotJudged
from kbench.params import Param
from kbench.stats import Estimate

QUANTITIES = {
    "activation-ratio": "PPL-p% activation ratio: the share of FFN activations kept when perplexity may rise p%",
    "nonzero-fraction": "the share of FFN activation entries that are nonzero, per token",
}
SIDE = {"model": Param(str, "a registered model family (tiny-lm, vit)", required=True),
        "size": Param(str, "a preset of the family (default: the case's, else the family's first)"),
        "arch": Param(dict, "architecture keywords of this side (its activation, its FFN form)")}
CASE = {"task": Param(str, f"{TEXT_TASK} (the standard library's text) or a kbench.data image task",
                      required=True),
        "size": Param(str, "a preset of the model family"),
        "points": Param(list, "the sweep's points, increasing: amounts of data (tokens or examples), widths or depths",
                        item=float, low=3, high=64, item_low=1, item_high=1e13, required=True),
        "data": Param(float, "tokens or examples each model is trained on (sweep = width or depth)", low=1, high=1e13),
        "label": Param(str, "how tables name the case"),
        "paper_value": Param(float, "the paper's value for this case (its conditions)", low=-1e300)}
OPTIONS = {
    "quantity": Param(str, "what is measured at each point", required=True, choices=tuple(QUANTITIES)),
    "sweep": Param(str, "data: checkpoints of one run; width or depth: one model per width (the family's width "
                        "keyword) or per depth (its `depth`), each trained on the same data", default="data",
                   choices=("data", *SIZE_SWEEPS)),
    "statistic": Param(str, "what the verdict judges", required=True, choices=laws.STATISTICS),
    "form": Param(str, "the claimed functional form", choices=tuple(laws.FORMS)),
    "alternatives": Param(list, "the forms the claimed one is compared with", item=str, low=1, high=6),
    "criterion": Param(str, "how forms are compared: leave-one-out error, extrapolation error, or AIC",
                       default="loo", choices=laws.CRITERIA),
    "param": Param(str, "the claimed form's parameter judged (statistic = param)"),
    "direction": Param(str, "the claimed law's direction over the sweep (statistic = fit-advantage, required): a "
                            "seed whose fitted form runs the other way, or ends a parameter at its range's edge, "
                            "counts its advantage inverted (evidence against)", choices=laws.DIRECTIONS),
    "late": Param(float, "the share of latest points a slope is taken over", default=0.5, low=0.1, high=1.0),
    "neighbourhood": Param(dict, "analysis choices the verdict must survive: late = [shares], criterion = [names]; "
                                 "a verdict that changes inside it is inconclusive (default for a slope: late from "
                                 "its value - 0.125 to 1.0 in steps of 0.125)"),
    "seeds": Param(int, "training runs, each its own initialisation and data order", default=3, low=2, high=100),
    "lr": Param(float, "AdamW learning rate (constant after warm-up)", default=1e-3, low=1e-7, high=10.0),
    "batch": Param(int, "sequences or examples per step", default=16, low=1, high=65536),
    "warmup": Param(int, "warm-up steps", default=20, low=1, high=100000),
    "labels": Param(str, "real labels, or labels shuffled once per seed (image tasks)", default="real",
                    choices=("real", "random")),
    "p": Param(float, "the perplexity rise of PPL-p%, in percent", default=1.0, low=0.001, high=100.0),
    "calibrate_last": Param(int, "checkpoints the CETT value is calibrated on (the last ones)", default=5, low=1,
                            high=64),
    "eval_sequences": Param(int, "held-out windows (text) the metrics read", default=64, low=1, high=100000),
}


def _alternatives(spec: Mapping[str, Any], estimate: Callable[[Mapping[str, Any]], Estimate]
                  ) -> tuple[dict[str, Estimate], list[str]]:
    """The estimate under every other choice in the spec's neighbourhood ("late=0.75" -> estimate),
    and notes for choices under which the points could not be judged."""
    out: dict[str, Estimate] = {}
    notes: list[str] = []
    for key, values in (spec.get("neighbourhood") or {}).items():
        for value in values:
            if value == spec.get(key, SPEC_DEFAULTS.get(key)):
                continue
            try:
                out[f"{key}={value}"] = estimate({**spec, key: value})
            except NotJudged as exc:
                notes.append(f"with {key} = {value} the points could not be judged: {exc}")
    return out, notes


def _table(measurements: Sequence[Mapping[str, Any]], role: str) -> tuple[np.ndarray, np.ndarray, list[int],
                                                                            dict[str, Any]]:
    try:
        return law_records.points_table(measurements, role)
    except law_records.PointsError as exc:
        raise NotJudged(str(exc)) from None


def _per_seed(spec: Mapping[str, Any], x: np.ndarray, table: np.ndarray, role: str) -> list[float]:
    try:
        return [laws.statistic(spec, x, row) for row in table]
    except laws.FitError as exc:
        raise NotJudged(f"the {role}'s points of one seed cannot be fitted: {exc}") from None


def _not_the_law(spec: Mapping[str, Any], x: np.ndarray, table: np.ndarray, seeds: list[int]) -> list[str]:
    """Notes for the seeds whose claimed fit is not the claimed law (their advantage counted inverted)."""
    if spec["statistic"] != "fit-advantage":
        return []
    notes = []
    for seed, row in zip(seeds, table, strict=True):
        try:
            problem = laws.claimed_fit_problem(spec, x / x.max(), row)
        except laws.FitError:
            continue
        if problem:
            notes.append(f"seed {seed}: {problem}; its advantage counts inverted, as evidence against the claim")
    return notes


def _details(spec: Mapping[str, Any], x: np.ndarray, table: np.ndarray, seeds: list[int],
             values: list[float]) -> dict[str, Any]:
    forms = [f for f in (spec.get("form"), *(spec.get("alternatives") or ())) if f]
    return {"statistic": spec["statistic"], "x": x.tolist(), "mean": table.mean(axis=0).tolist(),
            "seeds": seeds, "per_seed": table.tolist(), "per_seed_statistic": values,
            "fits": law_records.describe_fits(forms, x, table, spec.get("criterion", "loo")) if forms else {}}


class Law(Kind):
    name = "law"
    description = "a statistic of a quantity fitted along a sweep of data or width (kbench.laws), over seeds"
    sides: tuple[str, ...] = ("subject",)
    side_params = SIDE
    case_params = CASE
    options = OPTIONS
    combine = "each"
    unit = ""
    needs_operation = False
    replicated = True
    cost_unit = 60.0  # seconds per training run of one seed (a tiny model on a GPU)

    def cost(self, claim: Claim) -> float:
        runs = int(claim.options["seeds"]) * max(
            (len(c["points"]) if claim.options["sweep"] in SIZE_SWEEPS else 1) for c in claim.cases)
        return self.cost_unit * len(claim.cases) * len(self.sides) * runs

    def collect(self, claim: Claim, ctx: Context) -> None:
        seeds = ctx.scaled(int(claim.options["seeds"]), 2)
        for case in claim.cases_for(ctx.device.type):
            series = [Series(claim, case, role, ctx) for role in self.sides]
            for seed in range(seeds):  # the sides alternate seed by seed: an interruption keeps pairs
                for s in series:
                    ctx.progress(f"{s.subject.label}: seed {seed + 1}/{seeds}")
                    s.run_seed(seed)

    def evaluate(self, claim: Claim, case: Mapping[str, Any], measurements: Sequence[Mapping[str, Any]],
                 peaks: Mapping[str, Any]) -> list[CaseValue]:
        x, table, seeds, spec = _table(measurements, "subject")

        def estimate(s: Mapping[str, Any]) -> Estimate:
            values = _per_seed(s, x, table, "subject")
            log = s["statistic"] == "fit-advantage"
            if log and min(values) <= 0:
                raise NotJudged("a held-out error ratio of zero")
            return Estimate.from_values(values, "log" if log else "linear")

        est = estimate(spec)
        alternatives, notes = _alternatives(spec, estimate)
        details = _details(spec, x, table, seeds, _per_seed(spec, x, table, "subject"))
        return [CaseValue(case, est, details, notes + _not_the_law(spec, x, table, seeds), alternatives)]

    def check_references(self, claim: Claim, path: str, where: str) -> None:
        for role in self.sides:
            model = claim.side(role).model
            if model in registry.model_families() and registry.model_family(model).plugs is not None:
                raise SuiteError(path, f"{where}.{role}.model", "a model family without a pluggable operation "
                                 f"(tiny-lm, vit): {model}'s activation is an implementation, not an FFN to read",
                                 model)
            family = check_side(claim.side(role), path, f"{where}.{role}")
            check_family(claim, family, path, where, role)
        for key, cases in (("cases", claim.cases), ("cpu_cases", claim.cpu_cases or ())):
            for i, case in enumerate(cases):
                check_case(claim, case, path, f"{where}.{key}[{i}]")


class LawRatio(Law):
    name = "law-ratio"
    description = "a law statistic of the baseline over the candidate's, paired by seed"
    sides = ("baseline", "candidate")
    combine = "each"
    unit = "x"

    def evaluate(self, claim: Claim, case: Mapping[str, Any], measurements: Sequence[Mapping[str, Any]],
                 peaks: Mapping[str, Any]) -> list[CaseValue]:
        sides = {role: _table(measurements, role) for role in self.sides}
        (bx, bt, bs, spec), (cx, ct, cs, cspec) = sides["baseline"], sides["candidate"]
        if spec != cspec:
            raise NotJudged("the sides' points were judged by different statistics")
        common = sorted(set(bs) & set(cs))
        if len(common) < 2:
            raise NotJudged("fewer than 2 seeds were measured on both sides")

        def paired(s: Mapping[str, Any]) -> tuple[list[float], list[float]]:
            b = _per_seed(s, bx, bt[[bs.index(seed) for seed in common]], "baseline")
            c = _per_seed(s, cx, ct[[cs.index(seed) for seed in common]], "candidate")
            if min(b + c) <= 0:
                raise NotJudged("a ratio needs positive statistics on both sides (got "
                                f"{min(b):.3g} and {min(c):.3g})")
            return b, c

        b, c = paired(spec)
        alternatives, notes = _alternatives(spec, lambda s: stats.paired_log_ratio(*paired(s)))
        details = {"baseline": _details(spec, bx, bt, bs, b), "candidate": _details(spec, cx, ct, cs, c),
                   "statistic": spec["statistic"], "baseline_value": float(np.mean(b)),
                   "candidate_value": float(np.mean(c))}
        return [CaseValue(case, stats.paired_log_ratio(b, c), details, notes, alternatives)]


