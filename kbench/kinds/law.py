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

import copy
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch

from kbench import data, laws, registry, sparsity, stats, sweeps
from kbench.claims import Claim, Subject
from kbench.data import text
from kbench.errors import SuiteError
from kbench.kinds._model_building import architecture, check_side
from kbench.kinds.base import CaseValue, Context, Failed, Kind, NotJudged, Skip
from kbench.params import Param
from kbench.results import Measurement
from kbench.stats import Estimate

TEXT_TASK = "stdlib-text"
SIZE_SWEEPS = ("width", "depth")  # one model per point, the variable its parameter count


def swept_key(family: registry.ModelFamily, sweep: str) -> str | None:
    """The architecture keyword a size sweep sets (None: the family has none, or a data sweep)."""
    if sweep == "width":
        return family.width_key
    return "depth" if sweep == "depth" and "depth" in family.arch_keys else None
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
SPEC_KEYS = ("statistic", "form", "alternatives", "criterion", "param", "late", "neighbourhood", "direction")
LATE_STEP = 0.125
SPEC_DEFAULTS: dict[str, Any] = {"late": 0.5, "criterion": "loo"}


def _spec(options: Mapping[str, Any]) -> dict[str, Any]:
    spec = {k: options[k] for k in SPEC_KEYS if options.get(k) is not None}
    if "neighbourhood" not in spec and spec.get("statistic") == "slope":
        spec["neighbourhood"] = {"late": default_windows(float(spec.get("late", 0.5)))}
    return spec


def default_windows(late: float) -> list[float]:
    """The slope windows a verdict must survive by default: from `late` - 0.125 (not below 0.25) up
    to every point, in steps of 0.125."""
    start = max(0.25, late - LATE_STEP)
    steps = int(round((1.0 - start) / LATE_STEP))
    return sorted({round(min(1.0, start + i * LATE_STEP), 6) for i in range(steps + 1)} | {1.0})


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


def check_spec(spec: Mapping[str, Any], points: int) -> str | None:
    """What is wrong with a law's statistic and forms for this many points, or None."""
    return laws.spec_problem(spec, points)


class _Series:
    """One side of a law claim on one case: its runs, one per seed, and their measurements."""

    def __init__(self, claim: Claim, case: Mapping[str, Any], role: str, ctx: Context) -> None:
        self.claim, self.case, self.role, self.ctx = claim, case, role, ctx
        self.subject = claim.side(role)
        self.options = claim.options
        self.corpus: text.Corpus | None = None
        self.task: data.Task | None = None
        try:
            if case["task"] == TEXT_TASK:
                self.corpus = text.stdlib()
            else:
                self.task = data.load(case["task"], ctx.seed_for("split"))  # the master seed splits the data too
        except data.DataError as exc:
            raise Skip(str(exc)) from None
        self.family, self.size, self.arch = architecture(self.subject, case, self.task)
        self.recorded: dict[float, Measurement] = {}

    def _model(self, arch: Mapping[str, Any], seed: int) -> torch.nn.Module:
        torch.manual_seed(self.ctx.seed_for("init", seed))
        try:
            return self.family.create(self.size, None, arch).to(self.ctx.device)
        except (ValueError, TypeError, RuntimeError) as exc:
            raise Failed(f"{self.subject.label}: cannot build {dict(arch)}: {exc}") from None

    def _probe(self) -> sparsity.Loss:
        """The data the metrics read: held-out text windows, or the task's test images."""
        if self.corpus is not None:
            return sweeps.heldout_loss(self.corpus, int(self.arch["seq_len"]), int(self.options["eval_sequences"]),
                                       self.ctx.device)
        assert self.task is not None
        x = torch.as_tensor(self.task.test.x, device=self.ctx.device)
        y = torch.as_tensor(self.task.test.y, dtype=torch.long, device=self.ctx.device)

        @torch.no_grad()
        def loss(model: torch.nn.Module) -> float:
            return float(torch.nn.functional.cross_entropy(model(x).double(), y))

        return loss

    def _train(self, model: torch.nn.Module, points: Sequence[int], seed: int, at: sweeps.AtCheckpoint) -> None:
        config = sweeps.SweepConfig(int(self.options["batch"]), float(self.options["lr"]), int(self.options["warmup"]))
        try:
            if self.corpus is not None:
                sweeps.train_lm(model, self.corpus, config, int(self.arch["seq_len"]), points,
                                self.ctx.seed_for("data", seed), self.ctx.device, at)
            else:
                assert self.task is not None
                sweeps.train_classifier(model, self.task, config, points, self.ctx.seed_for("data", seed),
                                        self.ctx.device, self.options["labels"] == "random", at)
        except FloatingPointError as exc:
            raise Failed(f"{self.subject.label}, seed {seed}: {exc}") from None

    def run_seed(self, seed: int) -> None:
        """This seed's value at every point: measured, or reused from another claim of the run that
        trained the same subject on the same case with the same settings (only the statistic differs)."""
        settings = {k: v for k, v in self.options.items() if k not in SPEC_KEYS}
        key = json.dumps([self.subject.as_dict(), dict(self.case), settings, seed, self.ctx.seed], sort_keys=True)
        if key not in self.ctx.memo:
            self.ctx.memo[key] = self._measure_seed(seed)
        else:
            self.ctx.progress(f"{self.subject.label}: seed {seed + 1} measured by an earlier claim of this run")
        for x, value, info in self.ctx.memo[key]:
            self._add(x, value, seed, info)

    def _measure_seed(self, seed: int) -> list[tuple[float, float, dict[str, Any]]]:
        points = [int(p) for p in self.case["points"]]
        loss = self._probe()
        models: list[tuple[float, dict[str, Any], torch.nn.Module]] = []  # (x, what else, model at x)
        if self.options["sweep"] == "data":
            model = self._model(self.arch, seed)
            self._train(model, points, seed,
                        lambda seen, m: models.append((float(seen), {"data": seen}, copy.deepcopy(m))))
        else:
            sweep = str(self.options["sweep"])
            for size in points:
                self.ctx.progress(f"{self.subject.label}: {sweep} {size}, seed {seed + 1}")
                arch = {**self.arch, str(swept_key(self.family, sweep)): size}
                model = self._model(arch, seed)
                self._train(model, [int(self.case["data"])], seed, lambda seen, m: None)
                model.eval()
                models.append((float(sum(p.numel() for p in model.parameters())), {sweep: size}, model))
        values, more = self._measure(models, loss)
        return [(x, value, {**info, **extra})
                for (x, info, _), value, extra in zip(models, values, more, strict=True)]

    def _measure(self, models: list[tuple[float, dict[str, Any], torch.nn.Module]], loss: sparsity.Loss
                 ) -> tuple[list[float], list[dict[str, Any]]]:
        self.ctx.progress(f"{self.subject.label}: measuring {self.options['quantity']} at {len(models)} points")
        if self.options["quantity"] == "nonzero-fraction":
            return [sparsity.nonzero_fraction(m, loss) for _, _, m in models], [{} for _ in models]
        calibrated = [sparsity.calibrate(m, loss) for _, _, m in models]
        last = calibrated[-int(self.options["calibrate_last"]):]
        found = sparsity.search_cett(last, loss, float(self.options["p"]))
        if not found.reached:
            raise Failed(f"{self.subject.label}: perplexity never rises {self.options['p']}% (at most "
                         f"x{found.ppl_ratio:.4g} with every FFN activation dropped): PPL-p% has no threshold here")
        values, more = [], []
        for c in calibrated:
            ratio, kept = c.sparse(found.cett, loss)
            values.append(kept)
            more.append({"dense_loss": c.dense_loss, "ppl_ratio": ratio, "cett": found.cett,
                         "calibrated_ppl_ratio": found.ppl_ratio})
        return values, more

    def _add(self, x: float, value: float, seed: int, info: dict[str, Any]) -> None:
        m = self.recorded.get(x)
        if m is None:
            extra = {"x": x, "variable": self._variable(), "law": _spec(self.options), "arch": self.arch,
                     "per_seed": [], **({"corpus": self.corpus.describe()} if self.corpus is not None else {})}
            m = self.ctx.record(Measurement(
                case=dict(self.case), subject=self.subject.as_dict(), metric=f"{self.options['quantity']}@{x:g}",
                unit="fraction", better="none", noise="seeds", samples=[], groups=[], extra=extra,
                device_independent=True), self.role)
            self.recorded[x] = m
        assert m.samples is not None and m.groups is not None
        m.samples.append(float(value))
        m.groups.append(seed)
        m.extra["per_seed"].append({"seed": seed, **info})
        m.summary = stats.summarize(m.samples).as_dict()

    def _variable(self) -> str:
        if self.options["sweep"] in SIZE_SWEEPS:
            return "parameters"
        return "tokens" if self.corpus is not None else "examples"


def _table(measurements: Sequence[Mapping[str, Any]], role: str) -> tuple[np.ndarray, np.ndarray, list[int],
                                                                            dict[str, Any]]:
    try:
        return laws.points_table(measurements, role)
    except laws.PointsError as exc:
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
            "fits": laws.describe_fits(forms, x, table, spec.get("criterion", "loo")) if forms else {}}


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
            series = [_Series(claim, case, role, ctx) for role in self.sides]
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
            _check_family(claim, family, path, where, role)
        for key, cases in (("cases", claim.cases), ("cpu_cases", claim.cpu_cases or ())):
            for i, case in enumerate(cases):
                _check_case(claim, case, path, f"{where}.{key}[{i}]")


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


def _check_family(claim: Claim, family: registry.ModelFamily, path: str, where: str, role: str) -> None:
    sweep = claim.options["sweep"]
    key = swept_key(family, sweep)
    if sweep in SIZE_SWEEPS and key is None:
        raise SuiteError(path, f"{where}.options.sweep", f"data (model family {family.name} has no {sweep} to sweep)")
    if sweep in SIZE_SWEEPS and key in (claim.side(role).fields.get("arch") or {}):
        raise SuiteError(path, f"{where}.{role}.arch.{key}", f"no {key}: the {sweep} sweep sets it from the "
                         "case's points")
    problem = check_spec(_spec(claim.options), min(len(c["points"]) for c in (*claim.cases, *(claim.cpu_cases or ()))))
    if problem:
        raise SuiteError(path, f"{where}.options", problem)
    if claim.options["statistic"] == "fit-advantage" and claim.options.get("direction") is None:
        raise SuiteError(path, f"{where}.options.direction", "the claimed law's direction (increasing or "
                         "decreasing): a form that fits best running the other way is not the claimed law")


def _check_case(claim: Claim, case: Mapping[str, Any], path: str, loc: str) -> None:
    points = case["points"]
    if any(b <= a for a, b in zip(points, points[1:], strict=False)):
        raise SuiteError(path, f"{loc}.points", "strictly increasing points", points)
    sweep = claim.options["sweep"]
    if sweep in SIZE_SWEEPS:
        if "data" not in case:
            raise SuiteError(path, f"{loc}.data", f"the tokens or examples each {sweep} trains on (sweep = {sweep})")
        if any(p != int(p) for p in points):
            raise SuiteError(path, f"{loc}.points", f"whole {sweep}s", points)
    elif "data" in case:
        raise SuiteError(path, f"{loc}.data", "no data: a data sweep's points are the amounts trained on")
    task = case["task"]
    if task != TEXT_TASK and task not in data.names():
        raise SuiteError(path, f"{loc}.task", f"{TEXT_TASK} or a kbench.data task ({', '.join(data.names())})", task)
    if claim.options["quantity"] == "activation-ratio" and task != TEXT_TASK:
        raise SuiteError(path, f"{loc}.task", f"{TEXT_TASK} (the PPL-p% activation ratio needs a language model's "
                         "perplexity)", task)
    if claim.options["labels"] == "random" and task == TEXT_TASK:
        raise SuiteError(path, f"{claim_where(loc)}.options.labels", "real (text has no labels to shuffle)", "random")
    for role, subject in claim.sides.items():
        family = registry.model_family(subject.model)
        if (task == TEXT_TASK) != (family.name == "tiny-lm"):
            raise SuiteError(path, f"{claim_where(loc)}.{role}.model",
                             f"{'tiny-lm' if task == TEXT_TASK else 'an image model'} for task {task}", family.name)
        size = subject.fields.get("size") or case.get("size") or family.sizes[0]
        if size not in family.presets:
            raise SuiteError(path, f"{loc}.size", f"a size of {family.name} ({', '.join(family.sizes)})", size)
        _check_buildable(family, size, subject, case, claim, path, loc, role)


def claim_where(loc: str) -> str:
    return loc.rsplit(".", 1)[0]


def _check_buildable(family: registry.ModelFamily, size: str, subject: Subject, case: Mapping[str, Any], claim: Claim,
                     path: str, loc: str, role: str) -> None:
    """Each model the case will build, built on the meta device (no memory): a bad width fails
    now; checkpoints that would fall on the same training step are refused too."""
    task = None
    if case["task"] != TEXT_TASK:
        try:
            task = data.load(case["task"], 0)
        except data.DataError:
            return  # the run skips the claim with the reason
    _, _, arch = architecture(subject, case, task)  # the same preset `size` names
    if case["task"] == TEXT_TASK and int(arch.get("vocab", text.VOCAB)) < text.VOCAB:
        raise SuiteError(path, f"{claim_where(loc)}.{role}.arch.vocab", f"at least {text.VOCAB} (the text is bytes)",
                         arch.get("vocab"))
    sizes = case["points"] if claim.options["sweep"] in SIZE_SWEEPS else [None]
    for w in sizes:
        trial = {**arch, str(swept_key(family, claim.options["sweep"])): int(w)} if w is not None else arch
        where = f"{loc}.points" if w is not None else f"{claim_where(loc)}.{role}.arch"
        try:
            with torch.device("meta"):
                model = family.create(size, None, trial)
        except (ValueError, TypeError, RuntimeError, AssertionError) as exc:
            raise SuiteError(path, where, f"an architecture {family.name} can build", f"{trial}: {exc}") from None
        try:
            sparsity.down_projections(model)
        except ValueError as exc:
            raise SuiteError(path, f"{claim_where(loc)}.{role}.model", "a model whose FFN activations kbench can "
                             "read (tiny-lm, vit)", str(exc)) from None
    per_step = int(claim.options["batch"]) * (int(arch["seq_len"]) if case["task"] == TEXT_TASK else 1)
    amounts = [int(case["data"])] if claim.options["sweep"] in SIZE_SWEEPS else [int(p) for p in case["points"]]
    steps = sweeps.steps_for(amounts, per_step)
    if len(set(steps)) != len(steps):
        raise SuiteError(path, f"{loc}.points", f"amounts of data at least one step ({per_step} "
                         f"{'tokens' if case['task'] == TEXT_TASK else 'examples'}) apart", case["points"])
    warm = int(claim.options["warmup"]) * per_step
    if amounts[0] < warm:  # a data sweep's first checkpoint, or the data each width of a width sweep trains on
        field = "points" if claim.options["sweep"] == "data" else "data"
        raise SuiteError(path, f"{loc}.{field}", f"amounts past the learning-rate warm-up ({claim.options['warmup']} "
                         f"steps = {warm} {'tokens' if case['task'] == TEXT_TASK else 'examples'}): a checkpoint "
                         "inside it measures the schedule, not the data", case[field])
