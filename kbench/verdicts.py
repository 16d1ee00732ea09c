"""From a measured interval and a claim's rule to a verdict.

`reproduced` when the whole 95% interval satisfies the rule, `not-reproduced` when the whole
interval violates it, `inconclusive` when the interval straddles a bound. Claims that could not be
measured are `skipped` (with the reason) or `error` (with the message) before they reach here.
"""

from __future__ import annotations

from kbench.results import VerdictName
from kbench.stats import Estimate
from kbench.suite import PassRule


def decide(rule: PassRule, est: Estimate) -> tuple[VerdictName, str | None]:
    """The verdict for `est` under `rule`, and a reason when it is not plainly reproduced."""
    lo, hi = est.low, est.high
    above = rule.at_least is None or lo >= rule.at_least
    below = rule.at_most is None or hi <= rule.at_most
    if above and below:
        return "reproduced", None
    fails_low = rule.at_least is not None and hi < rule.at_least
    fails_high = rule.at_most is not None and lo > rule.at_most
    if fails_low or fails_high:
        return "not-reproduced", f"95% interval [{lo:.4g}, {hi:.4g}] lies outside the rule {rule.describe()}"
    return "inconclusive", f"95% interval [{lo:.4g}, {hi:.4g}] straddles the rule {rule.describe()}"


def ratio_to_paper(measured: float | None, paper_value: float | None) -> float | None:
    if measured is None or paper_value is None or paper_value == 0:
        return None
    return measured / paper_value
