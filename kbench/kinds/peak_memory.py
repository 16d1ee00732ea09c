"""Memory claims: the peak memory of one call of each side, from the device allocator
(kbench.memory), after the implementation is checked against float64 like any timed one."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from kbench import correctness, memory
from kbench.claims import Claim, Subject
from kbench.kinds._kernel_timing import (
    SLOTS,
    check_first,
    check_summary,
    each_case,
    implementation_for,
    implementations_for,
    operation_of,
    side_label,
)
from kbench.kinds.base import CaseValue, Context, Kind, NotJudged, Skip, by_role, case_key
from kbench.kinds.kernels import IMPL, PASS, SHAPE_CASE, SIDE_OPERATION
from kbench.results import Measurement
from kbench.stats import Estimate
from kbench.workloads import KernelWorkload

NOT_HERE = "peak memory is read from the CUDA allocator's statistics; this run is on the CPU"


def measure_peak(claim: Claim, subject: Subject, case: Mapping[str, Any], ctx: Context,
                 allocator: memory.Allocator) -> Measurement:
    """The largest peak over SLOTS calls on fresh inputs, each call's peak kept beside it."""
    op = operation_of(claim, subject)
    impl = implementation_for(op, subject.impl, case, ctx)
    checks = check_first(op, impl, case, ctx)
    seeds = [ctx.seed_for("memory", impl.name, case_key(case), s) for s in range(SLOTS)]  # pragma: no mutate
    work = KernelWorkload(op, impl, subject.pass_, dict(case), ctx.device, correctness.DTYPES[case["dtype"]], seeds)
    peaks = []
    for i in range(SLOTS):
        work.prepare(i)
        peaks.append(memory.peak_bytes(work, allocator))
    top = float(max(peaks))
    return Measurement(case=dict(case), subject=side_label(subject), metric="peak_bytes",
                       unit="bytes", better="lower", noise="exact", samples=[top], summary={"median": top},
                       extra={"per_call": peaks, "checks_before": check_summary(checks)})


class MemoryRatio(Kind):
    name = "memory-ratio"
    description = "peak memory of one baseline call / peak memory of one candidate call (device allocator)"
    sides = ("baseline", "candidate")
    side_params = {"impl": IMPL, "pass": PASS, "operation": SIDE_OPERATION}
    case_params = SHAPE_CASE
    unit = "x"

    def collect(self, claim: Claim, ctx: Context) -> None:
        allocator = memory.allocator_for(ctx.device)
        if allocator is None:
            raise Skip(NOT_HERE)
        def measure(case: Mapping[str, Any]) -> None:
            implementations_for(claim, [claim.side(r) for r in self.sides], case, ctx)
            for role in self.sides:
                ctx.record(measure_peak(claim, claim.side(role), case, ctx, allocator), role)

        each_case(claim, ctx, measure)

    def evaluate(self, claim: Claim, case: Mapping[str, Any], measurements: Sequence[Mapping[str, Any]],
                 peaks: Mapping[str, Any]) -> list[CaseValue]:
        base, cand = by_role(measurements, "baseline", "peak_bytes"), by_role(measurements, "candidate", "peak_bytes")
        b, c = float(base["samples"][0]), float(cand["samples"][0])
        if b <= 0 or c <= 0:
            raise NotJudged(f"a side allocated nothing during its call (baseline {b:.0f} B, candidate {c:.0f} B): "
                            "no ratio")
        return [CaseValue(case, Estimate.exact(b / c), {"baseline_bytes": b, "candidate_bytes": c})]
