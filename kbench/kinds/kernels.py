"""Kernel-level claim kinds: speedup, error-ratio, max-error, bitwise-repeat, bandwidth-fraction.

Every implementation is checked against float64 on fresh inputs before it is timed and again
after; a wrong one fails its claim with the errors found, and no time is recorded for it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, cast

import numpy as np
import torch

from kbench import correctness, registry, stats, timing
from kbench.kinds.base import CaseValue, ClaimData, Context, Failed, Skip, case_key, clock_state, for_claim, runnable
from kbench.registry import Implementation, Operation, Pass
from kbench.results import Measurement
from kbench.suite import Claim, Subject


def _implementation(op: Operation, subject: Subject, case: Mapping[str, Any], ctx: Context) -> Implementation:
    impl = runnable(op.name, cast(str, subject.impl), ctx.device)
    dtype = case.get("dtype", "float32")
    if dtype not in impl.dtypes:
        raise Skip(f"{impl.name}: does not take {dtype} inputs (takes {', '.join(impl.dtypes)})")
    return impl


def timed_call(impl: Implementation, op: Operation, pass_: Pass, inputs: registry.OpInputs) -> Callable[[], object]:
    """A zero-argument closure doing exactly the timed work; setup stays outside."""
    leaves = [t for t in inputs.args if t.requires_grad]
    dy = inputs.grad_output
    if pass_ == "fwd":
        return lambda: impl.fn(*inputs.args)
    if pass_ == "bwd":
        y = impl.fn(*inputs.args)
        return lambda: torch.autograd.grad(y, leaves, dy, retain_graph=True)
    return lambda: torch.autograd.grad(impl.fn(*inputs.args), leaves, dy)


def _check_or_fail(op: Operation, impl: Implementation, case: Mapping[str, Any], ctx: Context, when: str
                   ) -> correctness.Check:
    chk = correctness.check(op, impl, case, ctx.device, ctx.seed_for("check", when, impl.name, case_key(case)))
    if not chk.ok:
        raise Failed(f"{impl.name} {when} timing: {chk.describe()}")
    return chk


def measure_time(op: Operation, subject: Subject, case: Mapping[str, Any], ctx: Context, graph: bool = False
                 ) -> Measurement:
    """Checked, timed samples (ms) of one implementation and pass on one case; cached per run.

    `graph`: time CUDA-graph replays (device time, no launch overhead) instead of eager calls.
    """
    key = ("kernel", op.name, subject.impl, subject.pass_, case_key(case), graph)
    if key in ctx.cache:
        return ctx.cache[key]
    impl = _implementation(op, subject, case, ctx)
    pass_ = cast(Pass, subject.pass_)
    ctx.progress(f"{impl.name} {pass_} {_shape(case)}: checking against float64")
    before = _check_or_fail(op, impl, case, ctx, "before")
    ctx.progress(f"{impl.name} {pass_} {_shape(case)}: timing")
    dtype = correctness.DTYPES[case.get("dtype", "float32")]
    inputs = op.make_inputs(case, ctx.device, dtype, ctx.seed_for("time", impl.name, case_key(case)))
    samples, method = timing.time_on(ctx.device, timed_call(impl, op, pass_, inputs), ctx.kernel_timing, graph)
    del inputs
    after = _check_or_fail(op, impl, case, ctx, "after")
    summary = stats.summarize(samples)
    nbytes = op.bytes_moved(case, pass_, dtype)
    extra: dict[str, Any] = {
        "timing": method,
        "bytes": nbytes,
        "gbps": nbytes / (summary.median * 1e-3) / 1e9,
        "errors_before": before.errors,
        "errors_after": after.errors,
        **clock_state(ctx),
    }
    copy = ctx.peaks.get("copy_gbps")
    if copy:
        extra["copy_fraction"] = extra["gbps"] / copy
    if impl.launch_config is not None:
        extra["launch"] = impl.launch_config()  # after the timed calls: the configuration they ran
    m = Measurement(claim="", case=dict(case), subject=subject.as_dict(), metric="time_ms",
                    summary=summary.as_dict(), samples=samples.tolist(), extra=extra)
    ctx.cache[key] = m
    return m


def _per_output(case: Mapping[str, Any], key: str, name: str) -> dict[str, Any]:
    """A case split by output or gradient name, its label (if any) extended to say which."""
    split = {**case, key: name}
    if "label" in case:
        split["label"] = f"{case['label']}, {name}"
    return split


def _shape(case: Mapping[str, Any]) -> str:
    return "x".join(map(str, case.get("shape", []))) + f" {case.get('dtype', '')}".rstrip()


def speedup(claim: Claim, ctx: Context) -> ClaimData:
    """cost(baseline) / cost(candidate) in kernel time, per case."""
    op = registry.operation(cast(str, claim.operation))
    data = ClaimData()
    for case in claim.cases_for(ctx.device.type):
        graph = bool(claim.options.get("cuda_graph", False))
        base = measure_time(op, cast(Subject, claim.baseline), case, ctx, graph)
        cand = measure_time(op, cast(Subject, claim.candidate), case, ctx, graph)
        data.measurements += [for_claim(base, claim), for_claim(cand, claim)]
        b, c = np.asarray(base.samples), np.asarray(cand.samples)
        data.values.append(CaseValue(case, float(np.median(b) / np.median(c)), stats.ratio_draws(b, c)))
    return data


def bandwidth_fraction(claim: Claim, ctx: Context) -> ClaimData:
    """Achieved bytes/s of the subject over the copy bandwidth measured in this run."""
    op = registry.operation(cast(str, claim.operation))
    copy = ctx.peaks.get("copy_gbps")
    if not copy:
        raise Skip("no copy bandwidth was measured in this run")
    data = ClaimData()
    for case in claim.cases_for(ctx.device.type):
        m = measure_time(op, cast(Subject, claim.subject), case, ctx, bool(claim.options.get("cuda_graph", False)))
        data.measurements.append(for_claim(m, claim))
        gbps = m.extra["bytes"] / (np.asarray(m.samples) * 1e-3) / 1e9
        fractions = gbps / copy
        data.values.append(CaseValue(case, float(np.median(fractions)), stats.median_draws(fractions)))
    return data


def error_ratio(claim: Claim, ctx: Context) -> ClaimData:
    """Relative error against float64 of baseline over candidate, per case and gradient, over seeds."""
    op = registry.operation(cast(str, claim.operation))
    seeds = int(claim.options.get("seeds", 5))
    grads = list(claim.options.get("grads", op.grad_names))
    data = ClaimData()
    for case in claim.cases_for(ctx.device.type):
        impls = [_implementation(op, cast(Subject, s), case, ctx) for s in (claim.baseline, claim.candidate)]
        errors: dict[str, list[dict[str, float]]] = {impl.name: [] for impl in impls}
        for s in range(seeds):
            ctx.progress(f"{claim.id} {_shape(case)}: seed {s + 1}/{seeds}")
            seed = ctx.seed_for("error", claim.id, s, case_key(case))
            gold = correctness.golden(op, case, ctx.device, seed)
            for impl in impls:
                chk = correctness.check(op, impl, case, ctx.device, seed, gold)
                if not chk.ok:
                    raise Failed(f"{impl.name}: {chk.describe()}")
                errors[impl.name].append(chk.errors)
            del gold
        for grad in grads:
            base, cand = ([e[grad] for e in errors[impl.name]] for impl in impls)
            for impl, samples in zip(impls, (base, cand), strict=True):
                data.measurements.append(Measurement(
                    claim=claim.id, case=dict(case), subject={"impl": impl.name}, metric=f"rel_err_{grad}",
                    summary=stats.summarize(samples).as_dict(), samples=samples))
            if min(cand) <= 0:
                raise Failed(f"{impls[1].name}: zero error on {grad}; a ratio is undefined")
            data.values.append(CaseValue(_per_output(case, "grad", grad), float(np.median(base) / np.median(cand)),
                                         stats.ratio_draws(base, cand)))
    return data


def max_error(claim: Claim, ctx: Context) -> ClaimData:
    """Relative error against float64 of one implementation, per case and output, over seeds."""
    op = registry.operation(cast(str, claim.operation))
    seeds = int(claim.options.get("seeds", 3))
    names = list(claim.options.get("grads", (op.output_name, *op.grad_names)))
    data = ClaimData()
    for case in claim.cases_for(ctx.device.type):
        impl = _implementation(op, cast(Subject, claim.subject), case, ctx)
        found: list[dict[str, float]] = []
        for s in range(seeds):
            ctx.progress(f"{claim.id} {impl.name} {_shape(case)}: seed {s + 1}/{seeds}")
            found.append(correctness.check(op, impl, case, ctx.device,
                                           ctx.seed_for("max-error", s, case_key(case))).errors)
        for name in names:
            samples = [e[name] for e in found]
            data.measurements.append(Measurement(
                claim=claim.id, case=dict(case), subject={"impl": impl.name}, metric=f"rel_err_{name}",
                summary=stats.summarize(samples).as_dict(), samples=samples))
            data.values.append(CaseValue(_per_output(case, "output", name), float(np.median(samples)),
                                         stats.median_draws(samples)))
    return data


def bitwise_repeat(claim: Claim, ctx: Context) -> ClaimData:
    """Repeat forward and backward on identical inputs; count results equal to the first, bit for bit."""
    op = registry.operation(cast(str, claim.operation))
    repeats = int(claim.options.get("repeats", 5))
    data = ClaimData()
    for case in claim.cases_for(ctx.device.type):
        impl = _implementation(op, cast(Subject, claim.subject), case, ctx)
        inputs = op.make_inputs(case, ctx.device, correctness.DTYPES[case.get("dtype", "float32")],
                                ctx.seed_for("repeat", case_key(case)))
        first = correctness.forward_backward(impl.fn, op, inputs)
        same = []
        for _ in range(repeats):
            again = correctness.forward_backward(impl.fn, op, inputs)
            same.append(float(all(torch.equal(again[k], first[k]) for k in first)))
        data.measurements.append(Measurement(
            claim=claim.id, case=dict(case), subject={"impl": impl.name}, metric="bitwise_equal",
            summary=stats.summarize(same).as_dict(), samples=same))
        share = float(np.mean(same))
        data.values.append(CaseValue(case, share, np.full(stats.N_BOOT, share)))
    return data
