"""`size-ratio`: the largest size each side accepts and computes right, candidate's over baseline's.

A claim such as FlashRNN's "40x larger hidden sizes compared to our Triton implementation" is about
what an implementation can take, not how fast it is. Each case is a shape and the `sizes` to try
along one axis (`along`); each side is tried at every size, smallest first: a size counts only
where the implementation accepts it (its declared limits, no exception) and agrees with float64 on
every check variant, forward and backward, as any timed kernel must; a wrong answer is a bug, and
no size above it counts. Every size's outcome is kept with the measurement.
The value is exact (no noise). When a side took the largest size tried, its own largest is only a
lower bound: a verdict that bound could overturn, in either direction, is not judged firm.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from kbench.claims import Claim, Subject
from kbench.errors import SuiteError
from kbench.kinds._kernel_timing import (
    check_first,
    each_case,
    implementation_for,
    implementations_for,
    operation_of,
    side_label,
)
from kbench.kinds.base import CaseValue, Context, Failed, Kind, OutsideLimits, by_role
from kbench.kinds.kernels import IMPL, SHAPE_CASE, SIDE_OPERATION
from kbench.params import Param
from kbench.results import Measurement
from kbench.stats import Estimate

CASE = {**SHAPE_CASE,
        "sizes": Param(list, "the sizes to try along the axis `along`, increasing", required=True, item=int, low=2,
                       high=32, item_low=1, item_high=2**31 - 1)}
ALONG = Param(int, "the axis of `shape` the sizes replace (-1: the last, e.g. a head width)", default=-1, low=-6,
              high=5)


def sized(case: Mapping[str, Any], along: int, size: int) -> dict[str, Any]:
    """The case at one size: `shape` with that axis set, without the list of sizes."""
    shape = list(case["shape"])
    shape[along] = size
    return {**{k: v for k, v in case.items() if k != "sizes"}, "shape": shape}


def _outcome(claim: Claim, subject: Subject, case: Mapping[str, Any], ctx: Context) -> str:
    """'ok', or why this size does not count (outside its limits, refused, wrong)."""
    op = operation_of(claim, subject)
    try:
        impl = implementation_for(op, subject.impl, case, ctx)
        check_first(op, impl, case, ctx)
    except OutsideLimits as exc:
        return f"outside its limits: {exc}"
    except Failed as exc:
        return f"wrong against float64 or refused its inputs: {exc}"
    except Exception as exc:  # noqa: BLE001  (an implementation's own refusal of a size: a CUDA error, OOM)
        return f"raised {type(exc).__name__}: {exc}"
    return "ok"


def largest(claim: Claim, subject: Subject, case: Mapping[str, Any], ctx: Context) -> Measurement:
    along = int(claim.options["along"])
    tried: list[tuple[int, str]] = []
    for size in case["sizes"]:
        ctx.progress(f"{ctx.claim_id} {subject.impl}: size {size}")
        tried.append((int(size), _outcome(claim, subject, sized(case, along, size), ctx)))
    # a wrong answer is a bug, not a size it cannot take: no size above it counts
    wrong = next((size for size, outcome in tried if outcome.startswith("wrong")), None)
    ok = [size for size, outcome in tried if outcome == "ok" and (wrong is None or size < wrong)]
    m = Measurement(case=dict(case), subject=side_label(subject), metric="largest_size", unit="elements",
                    better="higher", noise="exact", samples=[float(max(ok))] if ok else [],
                    summary={"median": float(max(ok))} if ok else {}, extra={"tried": [list(t) for t in tried]})
    if not ok:
        m.status, m.reason = "skipped", f"took none of the sizes tried ({tried[0][1]} at {tried[0][0]})"
    return m


def _open_bound(claim: Claim, case: Mapping[str, Any], b: float, c: float, top: float) -> list[str]:
    """A side that took the largest size tried may take more: the true ratio is then only known to
    be at least c / b (the candidate's) or at most it (the baseline's). Unless the rule says the
    same over all that range, the verdict cannot be firm."""
    low, high = c / b, c / b
    if c == top:
        high = math.inf
    if b == top:
        low = 0.0
    if low == high:
        return []
    at_least, at_most = claim.rule.bounds(case.get("paper_value", claim.paper_value))
    lo_bound = -math.inf if at_least is None else at_least
    hi_bound = math.inf if at_most is None else at_most
    inside = lo_bound <= low and high <= hi_bound
    outside = high < lo_bound or low > hi_bound
    if inside or outside:
        return []
    sides = [name for name, v in (("baseline", b), ("candidate", c)) if v == top]
    return [f"the {' and '.join(sides)} took the largest size tried ({top:g}): the ratio is only known to lie in "
            f"[{low:.4g}, {high:.4g}], which the rule does not decide"]


class SizeRatio(Kind):
    name = "size-ratio"
    description = "largest size the candidate takes and computes right / the baseline's (float64-checked)"
    sides = ("baseline", "candidate")
    side_params = {"impl": IMPL, "operation": SIDE_OPERATION}  # checked forward and backward, as any kernel
    case_params = CASE
    options = {"along": ALONG}
    unit = "x"

    def collect(self, claim: Claim, ctx: Context) -> None:
        def measure(case: Mapping[str, Any]) -> None:
            # a side that cannot run here at all (no GPU, no package) skips the claim
            implementations_for(claim, [claim.side(r) for r in self.sides],
                                sized(case, int(claim.options["along"]), case["sizes"][0]), ctx)
            for role in self.sides:
                ctx.record(largest(claim, claim.side(role), case, ctx), role)

        each_case(claim, ctx, measure)

    def evaluate(self, claim: Claim, case: Mapping[str, Any], measurements: Sequence[Mapping[str, Any]],
                 peaks: Mapping[str, Any]) -> list[CaseValue]:
        base, cand = by_role(measurements, "baseline", "largest_size"), by_role(measurements, "candidate",
                                                                                "largest_size")
        b, c = float(base["samples"][0]), float(cand["samples"][0])
        blocks = _open_bound(claim, case, b, c, float(max(case["sizes"])))
        details = {"baseline_largest": b, "candidate_largest": c,
                   "tried": {"baseline": base["extra"]["tried"], "candidate": cand["extra"]["tried"]}}
        return [CaseValue(case, Estimate.exact(c / b), details, blocks=blocks)]

    def check_references(self, claim: Claim, path: str, where: str) -> None:
        along = int(claim.options["along"])
        for key, cases in (("cases", claim.cases), ("cpu_cases", claim.cpu_cases or ())):
            for i, case in enumerate(cases):
                if not -len(case["shape"]) <= along < len(case["shape"]):
                    raise SuiteError(path, f"{where}.{key}[{i}].shape", f"an axis {along} (options.along)",
                                     case["shape"])
                if list(case["sizes"]) != sorted(set(case["sizes"])):
                    raise SuiteError(path, f"{where}.{key}[{i}].sizes", "sizes increasing, each once", case["sizes"])
                for role in self.sides:  # every size a case the side's operation can take
                    op = operation_of(claim, claim.side(role))
                    for size in case["sizes"]:
                        problem = op.check_case(sized(case, along, size)) if op.check_case is not None else None
                        if problem is not None:
                            raise SuiteError(path, f"{where}.{key}[{i}].sizes", f"sizes operation {op.name!r} takes "
                                             f"({problem[0]}: {problem[1]})", size)
