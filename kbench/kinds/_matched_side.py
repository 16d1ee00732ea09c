"""One side of a matched comparison on one case: its model resolved for the task (the width matched
to the parameter budget), its learning rate tuned on the validation split (the same budget for
both sides), then one training run per seed, each checked and scored on the test split.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from kbench import correctness, data, registry, stats, training
from kbench.claims import Claim, Subject
from kbench.kinds._model_building import (
    BYTES_PER_PARAMETER,
    architecture,
    count_flops,
    params_of,
)
from kbench.kinds.base import Context, Failed
from kbench.results import Measurement

TUNE_TOLERANCE = 0.002  # an edge rate within 0.2% (relative) of the best other rate is a plateau, not an edge


EVAL_CHECK = 256  # test inputs a plugged model is checked on in evaluation, before its score counts


class Diverged(Exception):
    """A training run whose score is not finite (NaN loss): the claim stops with what it has."""


def memory_bytes(device: torch.device) -> int:
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
        flops = count_flops(meta_model(family, size, arch), family.input_shape(arch))  # a forward pass on no memory
    except (ValueError, TypeError, RuntimeError, AssertionError, ZeroDivisionError) as exc:
        raise Failed(f"{subject.label}: model family {family.name!r} cannot build this architecture for task "
                     f"{task.name} (inputs {task.input_shape}): {exc}") from None
    return family, size, arch, params, flops


def set_for_you(subject: Subject, case: Mapping[str, Any], family: registry.ModelFamily, arch: Mapping[str, Any]
                 ) -> tuple[str, str] | None:
    """An architecture keyword the suite gives that the run would replace: (keyword, by what)."""
    for key, value in (subject.fields.get("arch") or {}).items():
        if key == family.width_key and "params" in case:
            return key, f"the width search for the case's {case['params']}-parameter budget"
        if arch.get(key) != value:
            return key, f"the task (it needs {key} = {arch.get(key)})"
    return None


class Side:
    """One side of a matched comparison on one case: its model, tuning and seed runs."""

    def __init__(self, subject: Subject, case: Mapping[str, Any], task: data.Task, ctx: Context, claim: Claim) -> None:
        self.subject, self.case, self.ctx, self.claim = subject, case, ctx, claim
        self.family, self.size, arch, self.params, self.flops = resolve(subject, case, task, claim)
        if self.params * BYTES_PER_PARAMETER > memory_bytes(ctx.device) // 2:
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
            raise Diverged(f"{self.subject.label} {self.case.get('task')}: seed {len(self.scores) + 1} diverged at "
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
                   "majority_share": majority(task),
                   # each test example's outcome, averaged over the seeds: the test set's sampling noise
                   "per_example": [round(float(v), 6) for v in np.mean(self.outcomes, axis=0)] if self.outcomes
                   else []})


def majority(task: data.Task) -> float | None:
    """The test set's most common label's share (classification): what always guessing it scores."""
    if task.kind != "classification" or len(task.test.y) == 0:
        return None
    return float(np.bincount(np.asarray(task.test.y, dtype=np.int64)).max() / len(task.test.y))


def meta_model(family: registry.ModelFamily, size: str, arch: Mapping[str, Any]) -> torch.nn.Module:
    ref = registry.operation(family.plugs).reference if family.plugs else None
    with torch.device("meta"):
        return family.create(size, ref, arch)
