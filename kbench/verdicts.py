"""From a measured interval and a claim's rule to a verdict.

`reproduced` when the whole 95% interval satisfies the rule, `not-reproduced` when the whole
interval violates it, `inconclusive` when it straddles a bound or when there is no interval (one
round, one seed: no between-round noise was measured, so no certainty can be claimed). Claims
that could not be measured are `skipped` (with the reason) or `error` (with the message) before
they reach here.

A rule's bounds are absolute numbers, or fractions of the paper's value (`of_paper`): "at least
half of the paper's 86.5x" is stored as at_least = 0.5, of_paper = true, and the bound is
derived where the paper value is known, never typed in twice.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from kbench.results import VerdictName
from kbench.stats import Estimate, power

# Worst first: a claim judged case by case takes the worst of its cases' verdicts.
SEVERITY: dict[str, int] = {"error": 0, "not-reproduced": 1, "inconclusive": 2, "skipped": 3, "reproduced": 4}


@dataclass(frozen=True)
class Rule:
    """The rule that turns a measured interval into a verdict."""

    at_least: float | None = None
    at_most: float | None = None
    of_paper: bool = False  # the bounds are multiples of the paper's value

    def bounds(self, paper_value: float | None) -> tuple[float | None, float | None]:
        """The absolute bounds, given the paper value the rule is relative to (if it is)."""
        if not self.of_paper:
            return self.at_least, self.at_most
        if paper_value is None:
            return None, None
        lo = None if self.at_least is None else self.at_least * paper_value
        hi = None if self.at_most is None else self.at_most * paper_value
        return lo, hi

    def describe(self, paper_value: float | None = None) -> str:
        lo, hi = self.bounds(paper_value)
        parts = []
        for sign, bound, frac in ((">=", lo, self.at_least), ("<=", hi, self.at_most)):
            if frac is None:
                continue
            if self.of_paper:
                parts.append(f"{sign} {bound:.4g} ({frac:g} x paper)" if bound is not None
                             else f"{sign} {frac:g} x paper")
            else:
                parts.append(f"{sign} {bound:g}")
        return " and ".join(parts)

    @property
    def lower_is_worse(self) -> bool | None:
        """True for "at least" rules, False for "at most" ones, None for a two-sided band."""
        if self.at_least is not None and self.at_most is None:
            return True
        if self.at_most is not None and self.at_least is None:
            return False
        return None

    def as_dict(self, paper_value: float | None = None) -> dict[str, Any]:
        return {"at_least": self.at_least, "at_most": self.at_most, "of_paper": self.of_paper,
                "text": self.describe(paper_value)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Rule:
        return cls(data.get("at_least"), data.get("at_most"), bool(data.get("of_paper", False)))


def decide(rule: Rule, est: Estimate, paper_value: float | None = None) -> tuple[VerdictName, str | None]:
    """The verdict for `est` under `rule`, and a reason when it is not plainly reproduced."""
    lo_bound, hi_bound = rule.bounds(paper_value)
    if lo_bound is None and hi_bound is None:
        return "inconclusive", "the rule is relative to the paper's value, which this case does not have"
    if not est.has_interval:
        return "inconclusive", (f"measured {est.value:.4g} without an interval: {est.n} independent round(s) or "
                                "seed(s), so the run-to-run noise was not measured "
                                f"(rule {rule.describe(paper_value)})")
    lo, hi = float(est.low), float(est.high)  # type: ignore[arg-type]
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return "inconclusive", f"the interval [{lo}, {hi}] is not finite"
    above = lo_bound is None or lo >= lo_bound
    below = hi_bound is None or hi <= hi_bound
    if above and below:
        return "reproduced", None
    fails_low = lo_bound is not None and hi < lo_bound
    fails_high = hi_bound is not None and lo > hi_bound
    text = rule.describe(paper_value)
    if fails_low or fails_high:
        return "not-reproduced", f"95% interval [{lo:.4g}, {hi:.4g}] lies outside the rule {text}"
    straddled = [b for b in (lo_bound, hi_bound) if b is not None and lo < b < hi]
    what = power(est, min(straddled, key=lambda b: abs(b - est.value))) if straddled else None
    return "inconclusive", (f"95% interval [{lo:.4g}, {hi:.4g}] straddles the rule {text}"
                            + (f" ({what.describe()})" if what is not None else ""))


def ratio_to_paper(measured: float | None, paper_value: float | None) -> float | None:
    if measured is None or paper_value is None or paper_value == 0:
        return None
    return measured / paper_value


def worst_verdict(names: list[VerdictName]) -> VerdictName:
    return min(names, key=lambda n: SEVERITY[n])
