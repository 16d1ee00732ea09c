"""Model-level claim kinds: train-speedup, time-share, flops-ratio.

A train step is AdamW on synthetic images and random labels (nothing downloaded), under bf16
autocast on a GPU. Before any step is timed, the implementation a model plugs in is checked
against float64 at the model's layer widths with its inputs laid out as the model passes them,
and the whole model is checked against the same model built on the reference implementation
(logits and parameter gradients, float64 as the gold). Steps are timed in rounds (a fresh model,
optimizer and warm-up each), interleaved between the claim's sides; each round also measures
whether the host or the device set the pace.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch

from kbench import stats
from kbench.claims import Claim
from kbench.errors import SuiteError
from kbench.kinds._model_building import (
    architecture,
    check_model,
    check_model_side,
    input_batch,
    model_stats,
)
from kbench.kinds._train_steps import TrainStep, case_label, measure_steps
from kbench.kinds.base import (
    CaseValue,
    Context,
    Failed,
    Kind,
    NotJudged,
    Skip,
    by_role,
    timing_ratio,
)
from kbench.params import Param
from kbench.results import Measurement
from kbench.stats import Estimate

MODEL_CASE: dict[str, Param] = {
    "size": Param(str, "a preset of the model family (e.g. tiny)", required=True),
    "batch": Param(int, "images per train step", default=1, low=1, high=65536),
    "arch": Param(dict, "architecture keywords on top of the preset (e.g. depth, embed_dim, img_size)"),
    "params": Param(int, "a parameter budget: each side's width is matched to it (the family's width keyword)",
                    low=10, high=10**12),
    "label": Param(str, "how tables name the case"),
    "paper_value": Param(float, "the paper's value for this case (its conditions)", low=-1e300),
}
MODEL_SIDE = {"model": Param(str, "a registered model family", required=True),
              "impl": Param(str, "the implementation of the family's pluggable operation"),
              "arch": Param(dict, "this side's own architecture keywords (over the case's)")}


STEPS = Param(int, "timed train steps per round (at least)", low=1, high=10000)
ROUNDS = Param(int, "independent rounds (fresh model, optimizer, warm-up)", low=1, high=100)


def _host_notes(measurements: Sequence[Mapping[str, Any]]) -> list[str]:
    return [f"{m['subject'].get('model')}[{m['subject'].get('impl') or ''}] is host-bound: the host needed "
            f"{m['extra']['host_fraction']:.0%} of the device's step time to issue a step, so this timing measures "
            "the launcher, not the device" for m in measurements if (m.get("extra") or {}).get("host_bound")]


class _ModelKind(Kind):
    side_params = MODEL_SIDE
    case_params = MODEL_CASE
    needs_operation = False

    def check_references(self, claim: Claim, path: str, where: str) -> None:
        for role in self.sides:
            check_model_side(claim, role, path, f"{where}.{role}")


class TrainSpeedup(_ModelKind):
    name = "train-speedup"
    cost_unit = 30.0
    description = "train-step time of baseline / of candidate (images/s of candidate / of baseline)"
    sides = ("baseline", "candidate")
    options = {"steps": STEPS, "rounds": ROUNDS}
    unit = "x"

    def collect(self, claim: Claim, ctx: Context) -> None:
        for case in claim.cases_for(ctx.device.type):
            measure_steps(claim, [("baseline", claim.side("baseline")), ("candidate", claim.side("candidate"))],
                          case, ctx)

    def evaluate(self, claim: Claim, case: Mapping[str, Any], measurements: Sequence[Mapping[str, Any]],
                 peaks: Mapping[str, Any]) -> list[CaseValue]:
        value = timing_ratio(case, measurements, "step_ms")
        value.notes = _host_notes([m for m in measurements if m.get("metric") == "step_ms"])
        return [value]


def _kernel_share(step: Callable[[], object], pattern: re.Pattern[str]) -> float:  # pragma: no mutate block
    """Share of one step's device kernel time spent in kernels whose name matches `pattern`."""
    from torch.autograd import DeviceType  # type: ignore[attr-defined]
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        step()
        torch.cuda.synchronize()
    return share_of([(e.name, float(e.time_range.elapsed_us())) for e in prof.events()
                     if e.device_type == DeviceType.CUDA], pattern)


def share_of(kernels: Sequence[tuple[str, float]], pattern: re.Pattern[str]) -> float:
    """Share of the kernels' total time (name, microseconds) spent in those whose name matches."""
    total = sum(elapsed for _, elapsed in kernels)
    if total <= 0:
        raise Failed("the profiler recorded no device kernels")
    return sum(elapsed for name, elapsed in kernels if pattern.search(name)) / total


class TimeShare(_ModelKind):
    name = "time-share"
    cost_unit = 30.0
    description = "share of a train step's device time spent in kernels whose name matches"
    options = {"kernel_pattern": Param(str, "regular expression over kernel names", default="."),
               "steps": Param(int, "profiled train steps per round", default=3, low=1, high=1000),
               "rounds": ROUNDS}
    combine = "worst"
    unit = "share"

    def check_references(self, claim: Claim, path: str, where: str) -> None:
        super().check_references(claim, path, where)
        pattern = str(claim.options.get("kernel_pattern", "."))
        try:
            re.compile(pattern)
        except re.error as exc:
            raise SuiteError(path, f"{where}.options.kernel_pattern", f"a regular expression ({exc})",
                             pattern) from None

    def collect(self, claim: Claim, ctx: Context) -> None:  # pragma: no mutate block (GPU only)
        if ctx.device.type != "cuda":
            raise Skip("kernel time shares are read from the CUDA profiler; this run is on the CPU")
        pattern = re.compile(str(claim.options.get("kernel_pattern", ".")))
        steps = ctx.scaled(int(claim.options.get("steps", 3)), 1)
        rounds = ctx.scaled(int(claim.options.get("rounds", ctx.model_timing.rounds)), 2)
        subject = claim.side("subject")
        for case in claim.cases_for(ctx.device.type):
            checks = check_model(subject, case, ctx)
            shares: list[float] = []
            groups: list[int] = []
            for r in range(rounds):  # each round a fresh model and warm-up: the share's run-to-run spread
                step = TrainStep(subject, case, ctx, r)
                for _ in range(2):  # warm-up: compilation and allocator growth stay out
                    step()
                ctx.progress(f"{subject.label} {case_label(case)}: round {r + 1}/{rounds}, profiling {steps} steps")
                shares += [_kernel_share(step, pattern) for _ in range(steps)]
                groups += [r] * steps
                del step
            if not any(s > 0 for s in shares):
                raise Failed(f"no device kernel matched {pattern.pattern!r}; is the pattern right?")
            ctx.record(Measurement(case=dict(case), subject=subject.as_dict(), metric="share",
                                   unit="share", better="none", noise="timing", samples=shares,
                                   groups=groups, summary=stats.summarize(shares, groups).as_dict(),
                                   extra={"kernel_pattern": pattern.pattern, "checks_before": checks}), "subject")

    def evaluate(self, claim: Claim, case: Mapping[str, Any], measurements: Sequence[Mapping[str, Any]],
                 peaks: Mapping[str, Any]) -> list[CaseValue]:
        """A t interval over the rounds' median shares (one round: a value, no interval)."""
        m = by_role(measurements, "subject", "share")
        groups = m.get("groups") or [0] * len(m["samples"])
        per_round = stats.group_medians(m["samples"], groups)
        return [CaseValue(case, Estimate.from_values(per_round, "linear"),
                          {"rounds": int(per_round.size), "steps": len(m["samples"])})]


def _branch_variance_ratios(model: torch.nn.Module, images: torch.Tensor) -> list[float]:
    """Var(output) / Var(input) of every transformer block's MLP branch (its two GR-KAN layers),
    at initialisation, on one batch."""
    ratios: list[float] = []

    def hook(module: torch.nn.Module, args: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        ratios.append(float(out.double().var() / args[0].double().var()))

    handles = [m.register_forward_hook(hook) for name, m in model.named_modules() if name.endswith(".mlp")]
    try:
        with torch.no_grad():
            model(images)
    finally:
        for h in handles:
            h.remove()
    if not ratios:
        raise Failed("the model has no blocks with an 'mlp' branch to measure")
    return ratios


class VarianceRatio(_ModelKind):
    name = "variance-ratio"
    replicated = True
    cost_unit = 5.0
    description = "at initialisation, the MLP branch's output variance over its input variance, in the worst block"
    options = {"seeds": Param(int, "models initialised (one batch each)", default=5, low=2, high=1000)}
    combine = "each"
    unit = "variance ratio"

    def collect(self, claim: Claim, ctx: Context) -> None:
        subject = claim.side("subject")
        seeds = ctx.scaled(int(claim.options["seeds"]), 2)
        for case in claim.cases_for(ctx.device.type):
            family, size, arch = architecture(subject, case)
            worst, per_block = [], []
            for seed in range(seeds):
                ctx.progress(f"{subject.label}: initialisation {seed + 1}/{seeds}")
                torch.manual_seed(ctx.seed_for("init", seed))  # the run's --seed draws other models
                model = family.create(size, subject.impl, arch).to(ctx.device)
                images, _ = input_batch(family, arch, int(case["batch"]), ctx.device,
                                         ctx.seed_for("batch", seed))  # pragma: no mutate (any label)
                ratios = _branch_variance_ratios(model, images)
                per_block.append(ratios)
                worst.append(max(ratios, key=lambda r: abs(math.log(r))))  # the furthest from 1 either way
            ctx.record(Measurement(case=dict(case), subject=subject.as_dict(), metric="variance_ratio",
                                   unit="ratio", better="none", noise="seeds", samples=worst,
                                   groups=list(range(seeds)), summary=stats.summarize(worst).as_dict(),
                                   extra={"per_block": per_block, "arch": arch}, device_independent=True), "subject")

    def evaluate(self, claim: Claim, case: Mapping[str, Any], measurements: Sequence[Mapping[str, Any]],
                 peaks: Mapping[str, Any]) -> list[CaseValue]:
        m = by_role(measurements, "subject", "variance_ratio")
        if min(m["samples"]) <= 0:
            raise NotJudged("a variance of zero")
        return [CaseValue(case, Estimate.from_values(m["samples"], "log"), {"seeds": len(m["samples"])})]


class FlopsRatio(_ModelKind):
    name = "flops-ratio"
    cost_unit = 1.0
    description = "counted forward FLOPs of baseline / of candidate, one input"
    sides = ("baseline", "candidate")
    combine = "each"
    unit = "x"

    def collect(self, claim: Claim, ctx: Context) -> None:
        for case in claim.cases_for(ctx.device.type):
            for role in self.sides:
                subject = claim.side(role)
                counts = model_stats(*architecture(subject, case))
                ctx.record(Measurement(case=dict(case), subject=subject.as_dict(), metric="flops",
                                       unit="FLOPs", better="none", noise="exact", samples=[float(counts["flops"])],
                                       summary=stats.summarize([counts["flops"]]).as_dict(),
                                       extra={"params": counts["params"]}, device_independent=True), role)

    def evaluate(self, claim: Claim, case: Mapping[str, Any], measurements: Sequence[Mapping[str, Any]],
                 peaks: Mapping[str, Any]) -> list[CaseValue]:
        base, cand = by_role(measurements, "baseline", "flops"), by_role(measurements, "candidate", "flops")
        if cand["samples"][0] <= 0:
            raise NotJudged("the candidate counted zero FLOPs")
        ratio = base["samples"][0] / cand["samples"][0]
        return [CaseValue(case, Estimate.exact(ratio), {"baseline_flops": base["samples"][0],
                                                        "candidate_flops": cand["samples"][0]})]
