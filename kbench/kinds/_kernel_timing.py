"""The kernel kinds' shared toolkit: an implementation checked against float64 before it is timed,
its timing taken in rounds interleaved across a claim's sides, the outputs of timed calls sketched
and a sample of them checked after each round, and a rate beyond the copy of the same bytes refused.
"""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

import numpy as np
import torch

from kbench import correctness, cotenancy, devices, registry, stats, timing
from kbench.claims import Claim, Subject
from kbench.kinds.base import Context, Failed, NotJudged, OutsideLimits, case_key, clock_state, runnable
from kbench.registry import Implementation, Operation, Pass
from kbench.results import Measurement
from kbench.stats import Estimate
from kbench.workloads import KernelWorkload

SLOTS = 3  # input sets the timed calls rotate through


# Timed calls per round checked through their sketches, drawn after the round: a kernel wrong on a
# share f of its timed calls passes a round with probability (1 - f)^8 (f = 0.1: 0.43; over 5
# rounds 0.015; f = 0.35: 3e-2 per round, 3e-8 over 5).
CHECKED_CALLS = 8


SKETCH_Z = 6.0  # standard deviations: an honest kernel at its tolerance trips it once in 5e8


def operation_of(claim: Claim, subject: Subject | None = None) -> Operation:
    """The operation a side computes: its own (`operation` on the side), else the claim's."""
    own = subject.fields.get("operation") if subject is not None else None
    return registry.operation(cast(str, own or claim.operation))


def implementation_for(op: Operation, name: str, case: Mapping[str, Any], ctx: Context) -> Implementation:
    """The implementation, or Skip when it cannot run here; OutsideLimits when this case lies outside
    what it takes: a dtype it does not take (refused, never computed in another one) or its declared
    limits. The claim's other cases go on."""
    impl = runnable(op.name, name, ctx.device)
    dtype = case["dtype"]
    if dtype not in impl.dtypes:
        raise OutsideLimits(f"{impl.name}: does not take {dtype} inputs (takes {', '.join(impl.dtypes)})")
    outside = impl.limits(case) if impl.limits is not None else None
    if outside:
        raise OutsideLimits(f"{impl.name}: {outside}")
    return impl


def implementations_for(claim: Claim, subjects: Sequence[Subject], case: Mapping[str, Any], ctx: Context
                        ) -> list[Implementation]:
    """Every side's implementation on `case`, all looked up before any side is measured: a case
    outside one side's limits (OutsideLimits) is measured on none of them."""
    return [implementation_for(operation_of(claim, subject), subject.impl, case, ctx) for subject in subjects]


def check_first(op: Operation, impl: Implementation, case: Mapping[str, Any], ctx: Context
                ) -> list[correctness.Check]:
    """check_all, or Failed naming the first wrong variant."""
    ctx.progress(f"{impl.name} {shape_text(case)}: checking against float64")
    seed = ctx.seed_for("check", ctx.claim_id, impl.name, case_key(case))  # pragma: no mutate (any label)
    try:
        checks = correctness.check_all(op, impl, case, ctx.device, seed)
    except correctness.UnsupportedInput as exc:
        raise Failed(str(exc)) from None
    if not checks[-1].ok:
        raise Failed(f"{impl.name}: {checks[-1].describe()}")
    return checks


def check_summary(checks: Sequence[correctness.Check]) -> list[dict[str, Any]]:
    return [c.as_dict() for c in checks]


def shape_text(case: Mapping[str, Any]) -> str:
    return "x".join(map(str, case.get("shape", []))) + f" {case.get('dtype', 'float32')}"


def method_for(device: torch.device, graph: bool) -> str:
    if device.type != "cuda":
        return "perf-counter"
    return "cuda-graph" if graph else "cuda-synced"


class KernelTiming:
    """One implementation's timing on one case, taken round by round (rounds of several timings
    are interleaved by the caller), then checked and summarised."""

    def __init__(self, op: Operation, impl: Implementation, pass_: Pass, case: Mapping[str, Any], ctx: Context,
                 graph: bool, subject: Mapping[str, Any] | None = None) -> None:
        self.op, self.impl, self.pass_, self.case, self.ctx = op, impl, pass_, dict(case), ctx
        self.subject = dict(subject or {"impl": impl.name, "pass": pass_})
        self.method = method_for(ctx.device, graph)
        self.dtype = correctness.DTYPES[case["dtype"]]
        self.samples: list[float] = []
        self.groups: list[int] = []
        self.extra: dict[str, Any] = {}
        emulated = devices.emulated(impl.requires)
        if emulated:  # recorded with the timing: no speed verdict is taken from it (kinds.base.refuse_emulated)
            self.extra["emulated"] = emulated
        self.before = check_first(op, impl, case, ctx)

    def seeds(self, r: int) -> list[int]:
        return [self.ctx.seed_for("time", self.impl.name, self.pass_, case_key(self.case), r, s)  # pragma: no mutate
                for s in range(SLOTS)]

    def take_round(self, r: int) -> None:
        self.ctx.progress(f"{self.impl.name} {self.pass_} {shape_text(self.case)}: round {r + 1}")
        work = KernelWorkload(self.op, self.impl, self.pass_, self.case, self.ctx.device, self.dtype, self.seeds(r))
        config = self.ctx.kernel_timing
        try:
            if self.method == "cuda-graph":
                taken = timing.cuda_graph_round(work, config, self.ctx.device)
            elif self.method == "cuda-synced":
                taken = timing.cuda_synced_round(work, config, self.ctx.device)
            else:
                taken = timing.cpu_round(work, config)
        except timing.Tampered as exc:
            raise Failed(f"{self.impl.name} {self.pass_} {shape_text(self.case)}, round {r + 1}: {exc}") from None
        except Exception as exc:
            if self.method == "cuda-graph":
                raise NotJudged(f"{self.impl.name} {self.pass_}: CUDA graph capture or replay failed "
                                f"({type(exc).__name__}: {str(exc)[:200]}); the claim is timed with graphs only"
                                ) from exc
            raise
        touched = timing.untouched() or (
            "a torch mode is still active after the round" if timing._modes_active() else None)
        if touched:
            raise Failed(f"{self.impl.name} {self.pass_} {shape_text(self.case)}, round {r + 1}: {touched}")
        self._check_outputs(r, taken.kept)
        self._check_sketches(r, taken, work)
        del work
        self.samples += taken.samples.tolist()
        self.groups += [r] * taken.samples.size
        self.extra.update(taken.extra)
        self.extra["calls_checked"] = self.extra.get("calls_checked", 0) + min(CHECKED_CALLS, len(taken.sketches))
        self.extra["calls_timed"] = self.extra.get("calls_timed", 0) + len(taken.sketches)

    def _check_sketches(self, r: int, taken: timing.Round, work: KernelWorkload) -> None:
        """CHECKED_CALLS timed calls drawn now, after the round (so the implementation could not
        know which): each call's inputs rebuilt, the float64 reference's sketch against the one
        taken of the call's outputs. A projection of an error e is normal with deviation |e|;
        within SKETCH_Z tolerances of the reference's norm is within what the check allows."""
        if not taken.sketches:
            return
        chosen = secrets.SystemRandom().sample(range(len(taken.sketches)), min(CHECKED_CALLS, len(taken.sketches)))
        tolerance: dict[str, tuple[float, float]] = {}
        for i in sorted(chosen):
            work.prepare(taken.start + i)
            if not tolerance:  # the reference's own rounding, once a round: the calls' inputs differ only in scale
                golden = correctness.golden_for(self.op, self.case, work.given())
                gold, tolerance = golden.gold, golden.tolerance
            else:
                gold = correctness.reference_outputs(self.op, work.given())
            seed, sketch = taken.sketches[i]
            for name, values in sketch.items():
                ref = gold[name]
                expected = timing.project(ref, seed)
                allowed = SKETCH_Z * tolerance[name][0] * float(ref.norm()) + 1e-12
                off = max(abs(a - b) for a, b in zip(values, expected, strict=True))
                if not off <= allowed:
                    raise Failed(f"{self.impl.name} {self.pass_} {shape_text(self.case)}: timed call {i + 1} of round "
                                 f"{r + 1} (drawn after the round) was wrong: its output {name!r} differs from "
                                 f"float64 by {off:.3g} along a random direction, where at most {allowed:.3g} "
                                 "is within tolerance")

    def _check_outputs(self, r: int, kept: Sequence[tuple[Any, Mapping[str, torch.Tensor]]]) -> None:
        """The outputs of the last timed calls, against float64 on the inputs each was given."""
        if not kept:
            raise Failed(f"{self.impl.name} {self.pass_}: no timed call's output was kept to check")
        for k, (given, got) in enumerate(kept):
            errors = correctness.golden_for(self.op, self.case, given).compare(got)
            bad = [n for n, e in errors.items() if not e.ok]
            if bad:
                detail = correctness.Check(f"a timed call (round {r + 1}, call {k + 1} of the last {len(kept)})",
                                           self.case, {n: errors[n] for n in bad})
                raise Failed(f"{self.impl.name} {self.pass_}: {detail.describe()}")

    def _measurement(self, summary: stats.Summary, extra: dict[str, Any]) -> Measurement:
        return Measurement(case=self.case, subject=self.subject, metric="time_ms",
                           unit="ms", better="lower", noise="timing", samples=self.samples, groups=self.groups,
                           summary=summary.as_dict(), extra=extra)

    def partial(self) -> Measurement:
        """What the rounds taken so far hold, when the run is interrupted: kept, never judged."""
        m = self._measurement(stats.summarize(self.samples, self.groups), {**self.extra, "timing": self.method})
        m.status, m.reason = "skipped", f"interrupted after {len(set(self.groups))} round(s)"
        return m

    def finish(self) -> Measurement:
        after = correctness.check(self.op, self.impl, self.case, self.ctx.device,
                                  self.ctx.seed_for("after", self.impl.name, case_key(self.case)))  # pragma: no mutate
        if not after.ok:
            raise Failed(f"{self.impl.name} after timing: {after.describe()}")
        nbytes = self.op.bytes_moved(self.case, self.pass_, self.dtype)
        summary = stats.summarize(self.samples, self.groups)
        extra: dict[str, Any] = {
            **self.extra, "timing": self.method, "bytes": nbytes, "gbps": nbytes / (summary.median * 1e-3) / 1e9,
            "errors_before": self.before[0].errors, "errors_after": after.errors,
            "checks_before": check_summary(self.before), **clock_state(self.ctx),
        }
        copy = self.ctx.peaks.get("copy_gbps")
        if copy:
            extra["copy_fraction"] = extra["gbps"] / copy
        if self.impl.launch_config is not None:
            extra["launch"] = self.impl.launch_config()  # after the timed calls: the configuration they ran
        m = self._measurement(summary, extra)
        self._refuse_impossible(m, nbytes)
        return m

    def _refuse_impossible(self, m: Measurement, nbytes: int) -> None:
        """Even its slowest round faster than both the best copy of the same bytes and the memory's
        theoretical peak: not a real timing."""
        medians = stats.group_medians(self.samples, self.groups)
        achieved = nbytes / (float(np.max(medians)) * 1e-3) / 1e9
        rates = Estimate.from_values(nbytes / (medians * 1e-3) / 1e9, "log")
        copy = copy_ceiling(self.ctx, nbytes)
        peak = self.ctx.peaks.get("memory_peak_gbps")
        ceiling = rate_ceiling(copy, self.ctx.peaks)
        m.extra.update({"slowest_round_gbps": achieved, "copy_ceiling_gbps": ceiling})
        if achieved > ceiling or (rates.low is not None and rates.low > ceiling):  # every round, or beyond noise
            m.status, m.reason = "error", "faster than the device can copy the bytes it must move"
            self.ctx.record(m, "rejected")
            bound = f" and its memory's theoretical peak ({peak:.4g} GB/s)" if peak else ""
            raise Failed(f"{self.impl.name} {self.pass_} {shape_text(self.case)}: {achieved:.4g} GB/s in its slowest "
                         f"round ({rates.value:.4g} over all rounds), above the best copy of the same {nbytes} bytes "
                         f"on this device ({copy:.4g} GB/s){bound}: "
                         "the timing cannot be real (results reused, work outside the timer?)")


def side_label(subject: Subject) -> dict[str, Any]:
    """What a side's measurements name it by: its implementation and pass, and its own operation
    where it names one (two operations may each have an implementation called "good")."""
    own = subject.fields.get("operation")
    return {"impl": subject.impl, **({"pass": subject.pass_} if subject.pass_ else {}),
            **({"operation": own} if own else {})}


def each_case(claim: Claim, ctx: Context, measure: Callable[[Mapping[str, Any]], object]) -> None:
    """`measure` on every case of the run; a case outside an implementation's declared limits is
    recorded as such for every side (judging leaves it out, saying why) and the others go on."""
    for case in claim.cases_for(ctx.device.type):
        try:
            measure(case)
        except OutsideLimits as exc:
            for role, subject in claim.sides.items():
                ctx.record(Measurement(case=dict(case), subject=side_label(subject), metric="outside_limits",
                                       unit="", status="skipped", reason=str(exc),
                                       extra={"outside_limits": str(exc)}), role)


def rate_ceiling(copy_gbps: float, peaks: Mapping[str, Any]) -> float:
    """The fastest GB/s a kernel can really move bytes at: the best copy measured, or the memory's
    theoretical peak where it is known and higher (torch's copy need not reach it: an H200's ran
    at 3350 GB/s, rated 4.8 TB/s, and a kernel beat it)."""
    return max(copy_gbps, peaks.get("memory_peak_gbps") or 0.0)


COPY_CAP = {"cuda": 1 << 30, "cpu": 1 << 28}  # bytes: past these a copy's speed no longer depends on size


def copy_ceiling(ctx: Context, nbytes: int) -> float:
    """The best GB/s of a copy moving `nbytes` (half read, half written; at most COPY_CAP) on this
    device, measured once per size in this run; a kernel that moves the same bytes cannot beat it."""
    size = min(max(nbytes // 2, 4), COPY_CAP.get(ctx.device.type, 1 << 28))
    if size not in ctx.ceilings:
        ctx.ceilings[size] = float(np.max(timing.copy_bandwidth_gbps(ctx.device, size, reps=30)))
    return ctx.ceilings[size]


def measure_times(claim: Claim, sides: Sequence[tuple[str, Any]], case: Mapping[str, Any], ctx: Context
                  ) -> list[Measurement]:
    """Time every (role, subject) on `case`, rounds interleaved across subjects so drift hits all
    of them; timings already taken in this run (by another claim) are reused."""
    graph = bool(claim.options["cuda_graph"])
    rounds = ctx.scaled(int(claim.options.get("rounds", ctx.kernel_timing.rounds)), 2)
    pending: list[tuple[str, tuple[Any, ...], KernelTiming]] = []
    found: dict[str, Measurement] = {}
    # every side's limits first (OutsideLimits): a case outside one side's is not timed on the others either
    impls = implementations_for(claim, [subject for _, subject in sides], case, ctx)
    for (role, subject), impl in zip(sides, impls, strict=True):
        op = operation_of(claim, subject)
        key = ("kernel", op.name, subject.impl, subject.pass_, case_key(case), graph, rounds)
        if key in ctx.cache:  # filed under this claim's own case (its label, its paper value)
            found[role] = ctx.record(dataclasses.replace(ctx.cache[key], case=dict(case)), role)
            continue
        pending.append((role, key, KernelTiming(op, impl, subject.pass_, case, ctx, graph, side_label(subject))))
    company = ctx.cotenants()  # before the case is timed, and again after
    try:
        for r in range(rounds):
            for _, _, job in pending:
                job.take_round(r)
    except KeyboardInterrupt:  # keep the rounds already taken, marked, then stop
        for role, _, job in pending:
            if job.samples:
                ctx.record(job.partial(), role)
        raise
    company += ctx.cotenants()
    for role, key, job in pending:
        m = job.finish()
        cotenancy.mark(m, company)
        ctx.cache[key] = m
        found[role] = ctx.record(m, role)
    return [found[role] for role, _ in sides]
