"""Model-level claim kinds: train-speedup, time-share, flops-ratio.

A train step is AdamW on synthetic images and random labels (nothing downloaded), under bf16
autocast on a GPU, timed step by step after warm-up. The implementation a model plugs in is
checked against float64 at the model's layer widths before any step is timed.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping
from typing import Any, cast

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from kbench import correctness, registry, stats, timing
from kbench.kinds.base import CaseValue, ClaimData, Context, Failed, Skip, case_key, clock_state, for_claim, runnable
from kbench.results import Measurement
from kbench.suite import Claim, Subject

NUM_CLASSES = 1000


def _check_plugged(family: registry.ModelFamily, subject: Subject, size: str, ctx: Context) -> None:
    if family.plugs is None:
        return
    impl = runnable(family.plugs, cast(str, subject.impl), ctx.device)
    op = registry.operation(family.plugs)
    for case in family.plug_cases(size):
        ctx.progress(f"{subject.label} {size}: checking {impl.name} at {case['shape']} against float64")
        chk = correctness.check(op, impl, case, ctx.device, ctx.seed_for("plug", impl.name, case_key(case)))
        if not chk.ok:
            raise Failed(f"{impl.name} inside {family.name}: {chk.describe()}")


def _train_step(subject: Subject, case: Mapping[str, Any], claim: Claim, ctx: Context
                ) -> tuple[Callable[[], torch.Tensor], torch.nn.Module]:
    family = registry.model_family(cast(str, subject.model))
    _check_plugged(family, subject, case["size"], ctx)
    torch.manual_seed(ctx.seed_for("model", subject.label, case_key(case)))
    model = family.build(case["size"], subject.impl).to(ctx.device).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    side = int(claim.options.get("image_size", 224))
    images = torch.randn(case["batch"], 3, side, side, device=ctx.device)
    labels = torch.randint(0, NUM_CLASSES, (case["batch"],), device=ctx.device)
    use_amp = ctx.device.type == "cuda"

    def step() -> torch.Tensor:
        opt.zero_grad(set_to_none=True)
        with torch.autocast(ctx.device.type, dtype=torch.bfloat16, enabled=use_amp):
            loss = F.cross_entropy(model(images), labels)
        loss.backward()  # type: ignore[no-untyped-call]
        opt.step()
        return loss.detach()

    return step, model


def measure_step(subject: Subject, case: Mapping[str, Any], claim: Claim, ctx: Context) -> Measurement:
    """Samples (ms) of one train step; cached per run so claims sharing a model share its timing."""
    key = ("step", subject.model, subject.impl, case_key(case), claim.options.get("image_size", 224))
    if key in ctx.cache:
        return ctx.cache[key]
    step, model = _train_step(subject, case, claim, ctx)
    ctx.progress(f"{subject.label} {case['size']} batch {case['batch']}: timing train steps")
    config = ctx.model_timing
    if "steps" in claim.options:
        config = dataclasses.replace(config, min_reps=int(claim.options["steps"]))
    samples, method = timing.time_on(ctx.device, step, config)
    loss = float(step())
    if not np.isfinite(loss):
        raise Failed(f"{subject.label}: the training loss became {loss} while timing")
    summary = stats.summarize(samples)
    extra = {"timing": method, "images_per_s": case["batch"] / (summary.median * 1e-3), "loss_after": loss,
             "params": sum(p.numel() for p in model.parameters()), **clock_state(ctx)}
    m = Measurement(claim="", case=dict(case), subject=subject.as_dict(), metric="step_ms",
                    summary=summary.as_dict(), samples=samples.tolist(), extra=extra)
    del model
    ctx.cache[key] = m
    return m


def train_speedup(claim: Claim, ctx: Context) -> ClaimData:
    """Train-step time of baseline over candidate (= images/s of candidate over baseline)."""
    data = ClaimData()
    for case in claim.cases_for(ctx.device.type):
        base = measure_step(cast(Subject, claim.baseline), case, claim, ctx)
        cand = measure_step(cast(Subject, claim.candidate), case, claim, ctx)
        data.measurements += [for_claim(base, claim), for_claim(cand, claim)]
        b, c = np.asarray(base.samples), np.asarray(cand.samples)
        data.values.append(CaseValue(case, float(np.median(b) / np.median(c)), stats.ratio_draws(b, c)))
    return data


def _kernel_share(step: Callable[[], torch.Tensor], pattern: re.Pattern[str]) -> float:
    """Share of one step's device kernel time spent in kernels whose name matches `pattern`."""
    from torch.autograd import DeviceType  # type: ignore[attr-defined]
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        step()
        torch.cuda.synchronize()
    total = matched = 0.0
    for event in prof.events():
        if event.device_type != DeviceType.CUDA:
            continue
        elapsed = float(event.time_range.elapsed_us())
        total += elapsed
        if pattern.search(event.name):
            matched += elapsed
    if total <= 0:
        raise Failed("the profiler recorded no device kernels")
    return matched / total


def time_share(claim: Claim, ctx: Context) -> ClaimData:
    if ctx.device.type != "cuda":
        raise Skip("kernel time shares are read from the CUDA profiler; this run is on the CPU")
    pattern = re.compile(str(claim.options.get("kernel_pattern", ".")))
    steps = int(claim.options.get("steps", 3))
    data = ClaimData()
    subject = cast(Subject, claim.subject)
    for case in claim.cases_for(ctx.device.type):
        step, model = _train_step(subject, case, claim, ctx)
        for _ in range(2):  # warm-up: compilation and allocator growth stay out
            step()
        ctx.progress(f"{subject.label} {case['size']}: profiling {steps} train steps")
        shares = np.array([_kernel_share(step, pattern) for _ in range(steps)])
        if not np.any(shares > 0):
            raise Failed(f"no device kernel matched {pattern.pattern!r}; is the pattern right?")
        data.measurements.append(Measurement(
            claim=claim.id, case=dict(case), subject=subject.as_dict(), metric="share",
            summary=stats.summarize(shares).as_dict(), samples=shares.tolist(),
            extra={"kernel_pattern": pattern.pattern}))
        data.values.append(CaseValue(case, float(np.median(shares)), stats.median_draws(shares)))
        del model
    return data


def count_flops(model: torch.nn.Module, image_size: int = 224) -> int:
    """Forward FLOPs for one image: torch's FlopCounterMode (matmuls, attention as explicit matmuls)
    plus what modules with a `counted_flops(x)` method report for themselves (custom kernels that
    the counter cannot see). Other elementwise work is not counted, as in fvcore and KAT's tool."""
    extra = [0]

    def hook(module: torch.nn.Module, args: tuple[torch.Tensor, ...], out: object) -> None:
        extra[0] += int(module.counted_flops(args[0]))  # type: ignore[operator]

    handles = [m.register_forward_hook(hook) for m in model.modules() if hasattr(m, "counted_flops")]
    for m in model.modules():
        if hasattr(m, "fused_attn"):  # timm attention: unfused, so its matmuls are counted
            setattr(m, "fused_attn", False)  # noqa: B010  (Module's typing forbids a plain bool)
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(torch.randn(1, 3, image_size, image_size, device="meta"))
    finally:
        for h in handles:
            h.remove()
    return int(counter.get_total_flops()) + extra[0]


def flops_ratio(claim: Claim, ctx: Context) -> ClaimData:
    """Counted FLOPs of baseline over candidate, one image, on the meta device (no compute)."""
    data = ClaimData()
    side = int(claim.options.get("image_size", 224))
    for case in claim.cases_for(ctx.device.type):
        counts = []
        for subject in (cast(Subject, claim.baseline), cast(Subject, claim.candidate)):
            family = registry.model_family(cast(str, subject.model))
            # FLOPs do not depend on the implementation: count with the plain reference.
            ref = registry.operation(family.plugs).reference if family.plugs else None
            with torch.device("meta"):
                model = family.build(case["size"], ref)
            flops = count_flops(model, side)
            counts.append(flops)
            data.measurements.append(Measurement(
                claim=claim.id, case=dict(case), subject=subject.as_dict(), metric="flops",
                summary=stats.summarize([flops]).as_dict(), samples=[float(flops)],
                extra={"params": sum(p.numel() for p in model.parameters())}))
        ratio = counts[0] / counts[1]
        data.values.append(CaseValue(case, ratio, np.full(stats.N_BOOT, ratio)))
    return data
