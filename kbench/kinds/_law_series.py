"""One side of a law claim on one case: a model per point (a width or depth sweep) or one run whose
checkpoints are the points (a data sweep), per seed, trained on the text corpus or an image task;
the law's quantity measured at every point. The law kinds fit their forms to what it records.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from kbench import data, registry, sparsity, stats, sweeps
from kbench.claims import Claim
from kbench.data import text
from kbench.kinds._law_spec import SPEC_KEYS, spec
from kbench.kinds._model_building import architecture
from kbench.kinds.base import Context, Failed, Skip
from kbench.results import Measurement

TEXT_TASK = "stdlib-text"


SIZE_SWEEPS = ("width", "depth")  # one model per point, the variable its parameter count


def swept_key(family: registry.ModelFamily, sweep: str) -> str | None:
    """The architecture keyword a size sweep sets (None: the family has none, or a data sweep)."""
    if sweep == "width":
        return family.width_key
    return "depth" if sweep == "depth" and "depth" in family.arch_keys else None


class Series:
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
            extra = {"x": x, "variable": self._variable(), "law": spec(self.options), "arch": self.arch,
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
