"""Kernel-level claim kinds: speedup, bandwidth-fraction, error-ratio, max-error, bitwise-repeat.

Every implementation is checked against float64 before anything else is done with it: on the
case as it will be run and on the operation's variants (kbench.correctness.check_all). Timings
are taken in rounds interleaved across the claim's sides; the outputs of timed calls are checked
against float64 too, the implementation is checked again afterwards, and a speed faster than the
best copy of the same bytes on this device is refused as impossible. A wrong or impossible
implementation fails its claim with the errors found; no time is kept as a speed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from kbench import correctness, stats
from kbench.claims import Claim
from kbench.kinds._kernel_timing import (
    check_first,
    each_case,
    implementation_for,
    measure_times,
    operation_of,
    rate_ceiling,
    shape_text,
)
from kbench.kinds.base import (
    CaseValue,
    Context,
    Failed,
    Impossible,
    Kind,
    NotJudged,
    Skip,
    by_role,
    case_key,
    one_method,
    refuse_emulated,
    timing_ratio,
)
from kbench.params import Param
from kbench.registry import Implementation, Operation
from kbench.results import Measurement
from kbench.stats import Estimate

# The fields every operation's case has; an operation declares its own beside them
# (Operation.case_fields: a layout, a sparsity, a window), checked when the suite is loaded.
SHAPE_CASE: dict[str, Param] = {
    "shape": Param(list, "tensor shape, as the operation reads it (it checks its own rank)", required=True, low=1,
                   high=6, item=int, item_low=1, item_high=2**31 - 1),
    "dtype": Param(str, "input dtype", default="float32", choices=("float32", "float16", "bfloat16", "float64")),
    "label": Param(str, "how tables name the case"),
    "paper_value": Param(float, "the paper's value for this case (its conditions)", low=-1e300),
}
IMPL = Param(str, "a registered implementation of the claim's operation (or of the side's own)", required=True)
SIDE_OPERATION = Param(str, "the operation this side computes, where it is not the claim's (a linear attention "
                            "timed against softmax attention at one shape); checked against its own reference")
PASS = Param(str, "the autograd direction timed", required=True, choices=("fwd", "bwd", "fwd+bwd"))
ROUNDS = Param(int, "independent timing rounds (fresh allocation, warm-up, inputs)", low=1, high=100)
GRAPH = Param(bool, "time CUDA-graph replays (device time, no launch overhead)", default=False)


class Speedup(Kind):
    name = "speedup"
    description = "kernel time of baseline / kernel time of candidate"
    sides = ("baseline", "candidate")
    side_params = {"impl": IMPL, "pass": PASS, "operation": SIDE_OPERATION}
    case_params = SHAPE_CASE
    options = {"cuda_graph": GRAPH, "rounds": ROUNDS}
    unit = "x"
    times_kernels = True

    def collect(self, claim: Claim, ctx: Context) -> None:
        sides = [("baseline", claim.side("baseline")), ("candidate", claim.side("candidate"))]
        each_case(claim, ctx, lambda case: measure_times(claim, sides, case, ctx))

    def evaluate(self, claim: Claim, case: Mapping[str, Any], measurements: Sequence[Mapping[str, Any]],
                 peaks: Mapping[str, Any]) -> list[CaseValue]:
        return [timing_ratio(case, measurements, "time_ms")]


class BandwidthFraction(Kind):
    name = "bandwidth-fraction"
    description = "achieved bytes/s of the subject / copy bandwidth measured in the same run"
    side_params = {"impl": IMPL, "pass": PASS}
    case_params = SHAPE_CASE
    options = {"cuda_graph": GRAPH, "rounds": ROUNDS}
    combine = "worst"  # a target stated per case holds only if it holds in every case
    unit = "fraction"
    times_kernels = True
    needs_copy_bandwidth = True

    def collect(self, claim: Claim, ctx: Context) -> None:
        if not ctx.peaks.get("copy_gbps"):
            raise Skip("no copy bandwidth was measured in this run")
        each_case(claim, ctx, lambda case: measure_times(claim, [("subject", claim.side("subject"))], case, ctx))

    def evaluate(self, claim: Claim, case: Mapping[str, Any], measurements: Sequence[Mapping[str, Any]],
                 peaks: Mapping[str, Any]) -> list[CaseValue]:
        copy = peaks.get("copy_gbps")
        if not copy:
            raise NotJudged("no copy bandwidth was measured in this run")
        m = by_role(measurements, "subject", "time_ms")
        refuse_emulated(m)
        rounds = stats.group_medians(m["samples"], m.get("groups") or [0] * len(m["samples"]))
        fractions = m["extra"]["bytes"] / (rounds * 1e-3) / 1e9 / copy
        est = Estimate.from_values(fractions, "log")
        if est.low is not None and est.low > rate_ceiling(copy, peaks) / copy:
            peak = peaks.get("memory_peak_gbps")
            above = f", and above the memory's theoretical peak ({peak:.4g} GB/s)" if peak else ""
            raise Impossible(f"{m['subject'].get('impl')} moved its bytes at {est.value:.3g} x [{est.low:.3g}, "
                             f"{est.high:.3g}] the copy bandwidth measured in this run{above}: faster than the "
                             "device can copy them, so the timing is not of the work")
        return [CaseValue(case, est, {"median_ms": m["summary"]["median"], "method": one_method(measurements)})]


def _split(case: Mapping[str, Any], key: str, name: str) -> dict[str, Any]:
    """A case split by output or gradient name, its label (if any) extended to say which."""
    split = {**case, key: name}
    if "label" in case:
        split["label"] = f"{case['label']}, {name}"
    return split


def _error_measurement(name: str, values: list[float], seeds: list[int], case: Mapping[str, Any], impl: str
                       ) -> Measurement:
    return Measurement(case=dict(case), subject={"impl": impl}, metric=f"rel_err_{name}", unit="relative",
                       better="lower", noise="seeds", samples=values, groups=seeds,
                       summary=stats.summarize(values, seeds).as_dict())


def _errors_over_seeds(op: Operation, impls: Sequence[Implementation], case: Mapping[str, Any], ctx: Context,
                       seeds: int) -> tuple[list[int], list[list[dict[str, float]]]]:
    """Each implementation's errors against float64 on the same inputs, seed by seed (one list per
    implementation, in order: both sides may be the same code); any wrong seed fails the claim."""
    found: list[list[dict[str, float]]] = [[] for _ in impls]
    ids = list(range(seeds))
    for s in ids:
        ctx.progress(f"{ctx.claim_id} {shape_text(case)}: seed {s + 1}/{seeds}")
        seed = ctx.seed_for("errors", ctx.claim_id, s, case_key(case))  # pragma: no mutate (any label)
        gold = correctness.golden(op, case, ctx.device, seed)
        for i, impl in enumerate(impls):
            chk = correctness.check(op, impl, case, ctx.device, seed, gold)
            if not chk.ok:
                raise Failed(f"{impl.name}: {chk.describe()}")
            found[i].append(chk.errors)
    return ids, found


class ErrorRatio(Kind):
    name = "error-ratio"
    description = "error against float64 of baseline / of candidate, paired by seed"
    sides = ("baseline", "candidate")
    side_params = {"impl": IMPL}
    case_params = SHAPE_CASE
    options = {"seeds": Param(int, "independent input draws", default=5, low=2, high=1000),
               "grads": Param(list, "outputs and gradients to compare", item=str, low=1, high=16)}
    unit = "x"

    def collect(self, claim: Claim, ctx: Context) -> None:
        op = operation_of(claim)
        seeds = ctx.scaled(int(claim.options["seeds"]), 2)
        grads = list(claim.options.get("grads") or op.grad_names or (op.output_name,))  # forward only: the output

        def measure(case: Mapping[str, Any]) -> None:
            impls = [implementation_for(op, claim.side(r).impl, case, ctx) for r in ("baseline", "candidate")]
            for impl in impls:
                check_first(op, impl, case, ctx)
            ids, found = _errors_over_seeds(op, impls, case, ctx, seeds)
            for grad in grads:
                for i, role in enumerate(self.sides):
                    ctx.record(_error_measurement(grad, [e[grad] for e in found[i]], ids, case, impls[i].name), role)

        each_case(claim, ctx, measure)

    def evaluate(self, claim: Claim, case: Mapping[str, Any], measurements: Sequence[Mapping[str, Any]],
                 peaks: Mapping[str, Any]) -> list[CaseValue]:
        out = []
        for metric in dict.fromkeys(m["metric"] for m in measurements if m["metric"].startswith("rel_err_")):
            base, cand = by_role(measurements, "baseline", metric), by_role(measurements, "candidate", metric)
            b = dict(zip(base.get("groups") or range(len(base["samples"])), base["samples"], strict=True))
            c = dict(zip(cand.get("groups") or range(len(cand["samples"])), cand["samples"], strict=True))
            seeds = [s for s in b if s in c]
            if not seeds or min(c[s] for s in seeds) <= 0 or min(b[s] for s in seeds) <= 0:
                raise NotJudged(f"{metric}: an error of exactly zero makes the ratio undefined")
            est = stats.paired_log_ratio([b[s] for s in seeds], [c[s] for s in seeds])
            out.append(CaseValue(_split(case, "grad", metric.removeprefix("rel_err_")), est,
                                 {"baseline": float(np.median(list(b.values()))),
                                  "candidate": float(np.median(list(c.values()))), "seeds": len(seeds)}))
        return out


class MaxError(Kind):
    name = "max-error"
    description = "largest relative error against float64 over the named outputs and gradients, worst seed"
    side_params = {"impl": IMPL}
    case_params = SHAPE_CASE
    options = {"seeds": Param(int, "independent input draws", default=3, low=1, high=1000),
               "grads": Param(list, "outputs and gradients to report", item=str, low=1, high=16)}
    combine = "worst"
    unit = "relative"

    def collect(self, claim: Claim, ctx: Context) -> None:
        op = operation_of(claim)
        seeds = ctx.scaled(int(claim.options["seeds"]), 1)
        names = list(claim.options.get("grads") or (op.output_name, *op.grad_names))

        def measure(case: Mapping[str, Any]) -> None:
            impl = implementation_for(op, claim.side("subject").impl, case, ctx)
            check_first(op, impl, case, ctx)
            ids, (errors,) = _errors_over_seeds(op, [impl], case, ctx, seeds)
            for name in names:
                ctx.record(_error_measurement(name, [e[name] for e in errors], ids, case, impl.name), "subject")

        each_case(claim, ctx, measure)

    def evaluate(self, claim: Claim, case: Mapping[str, Any], measurements: Sequence[Mapping[str, Any]],
                 peaks: Mapping[str, Any]) -> list[CaseValue]:
        out = []
        for m in measurements:
            if not m["metric"].startswith("rel_err_") or m.get("role") != "subject":
                continue
            if m.get("status") != "ok" or not m.get("samples"):
                raise NotJudged(f"{m['metric']} was not measured")
            worst = float(max(m["samples"]))  # the worst seed: a bound must hold on every draw
            est = Estimate.exact(worst, n=len(m["samples"]))
            out.append(CaseValue(_split(case, "output", m["metric"].removeprefix("rel_err_")), est,
                                 {"median": m["summary"]["median"], "seeds": len(m["samples"])}))
        return out


class BitwiseRepeat(Kind):
    name = "bitwise-repeat"
    description = "share of repeated calls on the same inputs whose outputs and gradients equal the first bit for bit"
    side_params = {"impl": IMPL}
    case_params = SHAPE_CASE
    options = {"repeats": Param(int, "calls compared with the first", default=5, low=1, high=1000)}
    combine = "worst"
    unit = "share"

    def collect(self, claim: Claim, ctx: Context) -> None:
        op = operation_of(claim)
        repeats = ctx.scaled(int(claim.options["repeats"]), 2)
        each_case(claim, ctx, lambda case: self._repeat(op, claim, case, ctx, repeats))

    def _repeat(self, op: Operation, claim: Claim, case: Mapping[str, Any], ctx: Context, repeats: int) -> None:
        impl = implementation_for(op, claim.side("subject").impl, case, ctx)
        check_first(op, impl, case, ctx)  # identical zeros would repeat perfectly
        seed = ctx.seed_for("repeat", case_key(case))  # pragma: no mutate (any label)
        inputs = op.make_inputs(case, ctx.device, correctness.DTYPES[case["dtype"]], seed)
        gold = correctness.golden_for(op, case, inputs)
        first = correctness.forward_backward(impl.fn, op, inputs)
        same = []
        for k in range(repeats + 1):  # every call right, not only alike: stale results repeat too
            again = first if k == 0 else correctness.forward_backward(impl.fn, op, inputs)
            chk = correctness.Check(f"repeat {k}", dict(case), gold.compare(again))
            if not chk.ok:
                raise Failed(f"{impl.name}: {chk.describe()}")
            if k:
                same.append(float(all(torch.equal(again[n], first[n]) for n in first)))
        ctx.record(Measurement(case=dict(case), subject={"impl": impl.name}, metric="bitwise_equal",
                               unit="share", better="higher", noise="exact", samples=same,
                               summary=stats.summarize(same).as_dict()), "subject")

    def evaluate(self, claim: Claim, case: Mapping[str, Any], measurements: Sequence[Mapping[str, Any]],
                 peaks: Mapping[str, Any]) -> list[CaseValue]:
        m = by_role(measurements, "subject", "bitwise_equal")
        share = float(np.mean(m["samples"]))
        return [CaseValue(case, Estimate.exact(share, "linear", len(m["samples"])),
                          {"repeats": len(m["samples"])})]
