"""`time-trend`: how one implementation's time grows along a sweep of cases, as an elasticity.

Each case is one point of the sweep (a sequence length, say, with the batch shrunk to keep the
tokens fixed); the claim's value is the slope of ln(time per call) against ln(x), where x is the
case's shape at the axis the claim names (`along`), fitted over every round's median time at every
point. 0 is a time that does not grow (at fixed tokens, a constant speed), 1 a time proportional to
x, 2 a quadratic one. The interval is the fit's Student t interval over all those points: rounds
that disagree and a curve that bends both widen it. A timing taken in an emulation is never judged.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from kbench import stats
from kbench.claims import Claim
from kbench.errors import SuiteError
from kbench.kinds._kernel_timing import each_case, measure_times
from kbench.kinds.base import CaseValue, Context, Kind, NotJudged, by_role, one_method, refuse_emulated
from kbench.kinds.kernels import GRAPH, IMPL, PASS, ROUNDS, SHAPE_CASE
from kbench.params import Param
from kbench.stats import Estimate

ALONG = Param(int, "the axis of `shape` the sweep runs along (its x; 1: the sequence of [B, T, H, D])", default=1,
              low=0, high=5)


class TimeTrend(Kind):
    name = "time-trend"
    description = "slope of ln(time per call) against ln(the swept axis) over the claim's cases"
    side_params = {"impl": IMPL, "pass": PASS}
    case_params = SHAPE_CASE
    options = {"along": ALONG, "cuda_graph": GRAPH, "rounds": ROUNDS}
    combine = "trend"
    unit = "slope"
    times_kernels = True

    def collect(self, claim: Claim, ctx: Context) -> None:
        along = int(claim.options["along"])

        def measure(case: Mapping[str, Any]) -> None:
            for m in measure_times(claim, [("subject", claim.side("subject"))], case, ctx):
                m.extra["x"] = int(case["shape"][along])  # the point of the sweep, kept with the timing

        each_case(claim, ctx, measure)

    def evaluate(self, claim: Claim, case: Mapping[str, Any], measurements: Sequence[Mapping[str, Any]],
                 peaks: Mapping[str, Any]) -> list[CaseValue]:
        """One point of the sweep: its time per call over the rounds (the claim's value is the trend)."""
        m = by_role(measurements, "subject", "time_ms")
        refuse_emulated(m)
        rounds = stats.group_medians(m["samples"], m.get("groups") or [0] * len(m["samples"]))
        if "x" not in (m.get("extra") or {}):
            raise NotJudged("the timing does not say which point of the sweep it is (extra.x)")
        details = {"x": int(m["extra"]["x"]), "round_ms": [float(r) for r in rounds],
                   "method": one_method(measurements)}
        return [CaseValue(case, Estimate.from_values(rounds, "log"), details)]

    def across_cases(self, claim: Claim, values: Sequence[CaseValue]) -> Estimate | None:
        methods = {v.details["method"] for v in values}
        if len(methods) > 1:
            raise NotJudged(f"its points were timed by different methods ({', '.join(sorted(map(str, methods)))})")
        xs = [math.log(v.details["x"]) for v in values for _ in v.details["round_ms"]]
        ys = [math.log(t) for v in values for t in v.details["round_ms"]]
        points = len({v.details["x"] for v in values})
        if points < 2 or len(xs) < 3:
            raise NotJudged(f"a trend needs at least two points of the sweep measured (here {points}) and three "
                            "rounds in all")
        return stats.trend(np.asarray(xs), np.asarray(ys))

    def check_references(self, claim: Claim, path: str, where: str) -> None:
        cased = [i for i, c in enumerate((*claim.cases, *(claim.cpu_cases or ()))) if "paper_value" in c]
        if claim.rule.of_paper or cased:
            raise SuiteError(path, f"{where}.{'rule.of_paper' if claim.rule.of_paper else 'cases'}",
                             "no paper value per case and no rule relative to one: a time-trend's value is one slope "
                             "across its cases (give the paper's slope as the claim's paper_value, the bounds "
                             "absolute)")
        if claim.combine != self.combine:
            raise SuiteError(path, f"{where}.combine", "no combine: a time-trend's value is the slope across its "
                             "cases", claim.combine)
        along = int(claim.options["along"])
        for key, cases in (("cases", claim.cases), ("cpu_cases", claim.cpu_cases or ())):
            for i, case in enumerate(cases):
                if along >= len(case["shape"]):
                    raise SuiteError(path, f"{where}.{key}[{i}].shape", f"an axis {along} (options.along) to sweep "
                                     "along", case["shape"])
            if cases and len({int(c["shape"][along]) for c in cases}) < 2:
                raise SuiteError(path, f"{where}.{key}", f"cases at two or more sizes of axis {along} (a trend)",
                                 [c["shape"] for c in cases])
