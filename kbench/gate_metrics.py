"""One metric of two runs compared as its noise model says: timings round by round (Welch t on
log round medians, and beyond twice the baseline's own round-to-round spread), seeded values
paired by seed, exact counts equal or not, a law's fitted parameters paired by seed. The gate
(kbench.gate) decides which metrics to compare and what the comparisons add up to.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from kbench import stats

MIN_ROUNDS = 3  # per side, for a timing comparison (Welch t with at least 2 df on each side)


NOISE_MULTIPLE = 2.0  # a regression must also exceed this many baseline round-to-round sds


# suspect: worse beyond the tolerance, but not shown to be (cannot judge); ambiguous: the same, better
Status = Literal["regression", "improvement", "unchanged", "suspect", "ambiguous", "underpowered", "changed"]


# What the gate says (text only; module constants, so mutation testing spends no mutants on wording)
FEW_ROUNDS = ("{b} baseline and {c} candidate round(s); the gate needs {n} per side to tell a change from "
              "run-to-run noise")


IN_THE_NOISE = ("the baseline's own rounds differ by up to {noise:.0%} (2 sd): a change of {change:.0%} cannot be "
                "told from that noise")


NOT_SIGNIFICANT = "not significant (p >= alpha or the interval reaches 1)"


EXACT_CHANGED = "an exact count changed: the runs measured different things (update the baseline if meant)"


FIT_DIFFERENCE = "a fitted parameter: low and high bound candidate minus baseline, paired by seed"


@dataclass(frozen=True)
class Comparison:
    claims: tuple[str, ...]
    metric: str
    subject: str
    case: str
    noise: str
    baseline: float  # the baseline's value (median, or geometric mean over seeds)
    candidate: float
    ratio: float  # candidate / baseline
    low: float | None
    high: float | None
    p_value: float | None
    tolerance: float
    status: Status
    reason: str = ""
    spread: float | None = None  # timings: the baseline's round-to-round sd (log scale), a regression exceeds 2x


Key = tuple[str, str, str]


def _compare_fit(key: Key, b: Mapping[str, Any], c: Mapping[str, Any], claims: tuple[str, ...],
                 threshold: float, alpha: float) -> Comparison:
    """A fitted parameter, paired by seed: the candidate minus the baseline, on the linear scale
    (exponents, offsets and slopes can be negative)."""
    bs, cs = dict(zip(b["groups"], b["samples"], strict=True)), dict(zip(c["groups"], c["samples"], strict=True))
    seeds = [s for s in bs if s in cs]
    base, cand = float(np.mean([bs[s] for s in seeds] or [math.nan])), float(np.mean([cs[s] for s in seeds] or
                                                                                  [math.nan]))
    common: dict[str, Any] = dict(claims=claims, metric=key[0], subject=key[1], case=key[2], noise="fit",
                                  baseline=base, candidate=cand, ratio=cand / base if base else math.nan)
    if len(seeds) < 2:
        return Comparison(**common, low=None, high=None, p_value=None, tolerance=threshold, status="underpowered",
                          reason=f"{len(seeds)} seed(s) in common; a paired comparison needs 2")  # pragma: no mutate
    est = stats.Estimate.from_values([cs[s] - bs[s] for s in seeds], "linear")
    moved = est.p_value < alpha and abs(est.value) > threshold * abs(base)
    return Comparison(**common, low=est.low, high=est.high, p_value=est.p_value, tolerance=threshold,
                      status="changed" if moved else "unchanged",
                      reason=FIT_DIFFERENCE if est.has_interval else "")


def _worse(ratio: float, better: str) -> float:
    """How much worse the candidate is, as a fraction (negative when better)."""
    return ratio - 1 if better == "lower" else (1 / ratio - 1 if ratio > 0 else math.inf)


def _classify(change: float, significant: bool, interval_beyond: bool, interval_better: bool, tolerance: float,
              noise: float = 0.0) -> Status:
    """`change`: how much worse the candidate is (a fraction); `noise`: the baseline's own
    round-to-round change a regression must exceed too."""
    if change > tolerance:
        shown = significant and interval_beyond and change > noise
        return "regression" if shown else "suspect"
    if -change > tolerance:
        return "improvement" if significant and interval_better else "ambiguous"
    return "unchanged"


def _rounds(m: Mapping[str, Any]) -> np.ndarray:
    return stats.group_medians(m["samples"], m["groups"])  # the validator fills in missing groups


def _compare_timing(key: Key, b: Mapping[str, Any], c: Mapping[str, Any], claims: tuple[str, ...],
                    threshold: float, alpha: float) -> Comparison:
    br, cr = _rounds(b), _rounds(c)
    base_value, cand_value = float(np.exp(np.log(br).mean())), float(np.exp(np.log(cr).mean()))
    ratio = cand_value / base_value
    common: dict[str, Any] = dict(claims=claims, metric=key[0], subject=key[1], case=key[2], noise="timing",
                                  baseline=base_value, candidate=cand_value, ratio=ratio)
    if br.size < MIN_ROUNDS or cr.size < MIN_ROUNDS:
        return Comparison(**common, low=None, high=None, p_value=None, tolerance=threshold, status="underpowered",
                          reason=FEW_ROUNDS.format(b=br.size, c=cr.size, n=MIN_ROUNDS))
    spread = float(np.std(np.log(br), ddof=1))
    est = stats.unpaired_log_ratio(cr, br)
    status, reason = judge_change(est, ratio, b["better"], threshold, alpha, math.expm1(NOISE_MULTIPLE * spread))
    return Comparison(**common, low=est.low, high=est.high, p_value=est.p_value, tolerance=threshold, status=status,
                      reason=reason, spread=spread)


def judge_change(est: stats.Estimate, ratio: float, better: str, threshold: float, alpha: float, noise: float = 0.0
           ) -> tuple[Status, str]:
    """Status of a candidate/baseline ratio with its interval, and why when it is suspect."""
    significant = est.p_value < alpha
    if better == "none":  # no better direction (a share, a count): only whether it moved
        moved = significant and abs(math.log(ratio)) > math.log1p(threshold)
        return ("changed" if moved else "unchanged"), ""
    low, high = est.low, est.high
    beyond = low is not None and (low > 1 if better == "lower" else high is not None and high < 1)
    better_side = high is not None and (high < 1 if better == "lower" else low is not None and low > 1)
    change = _worse(ratio, better)
    status = _classify(change, significant, beyond, better_side, threshold, noise)
    if status != "suspect":
        return status, ""
    if significant and beyond:
        return status, IN_THE_NOISE.format(noise=noise, change=change)
    return status, NOT_SIGNIFICANT


def _compare_seeds(key: Key, b: Mapping[str, Any], c: Mapping[str, Any], claims: tuple[str, ...],
                   threshold: float, alpha: float) -> Comparison:
    # seed -> value: paired by seed, not position (the validator made the lengths agree)
    bs = dict(zip(b["groups"], b["samples"], strict=True))  # pragma: no mutate
    cs = dict(zip(c["groups"], c["samples"], strict=True))  # pragma: no mutate
    seeds = [s for s in bs if s in cs]
    common: dict[str, Any] = dict(claims=claims, metric=key[0], subject=key[1], case=key[2], noise="seeds")
    positive = len(seeds) >= 2 and min(bs[s] for s in seeds) > 0 and min(cs[s] for s in seeds) > 0
    if not positive:
        why = (f"{len(seeds)} seed(s) in common; a paired comparison needs 2" if len(seeds) < 2  # pragma: no mutate
               else "a ratio needs every paired value above 0")  # pragma: no mutate
        return Comparison(**common, baseline=float(np.median(b["samples"])), candidate=float(np.median(c["samples"])),
                          ratio=math.nan, low=None, high=None, p_value=None, tolerance=threshold,
                          status="underpowered", reason=why)
    bv, cv = [bs[s] for s in seeds], [cs[s] for s in seeds]
    est = stats.paired_log_ratio(cv, bv)
    status, reason = judge_change(est, est.value, b["better"], threshold, alpha)
    return Comparison(**common, baseline=float(np.exp(np.log(bv).mean())), candidate=float(np.exp(np.log(cv).mean())),
                      ratio=est.value, low=est.low, high=est.high, p_value=est.p_value, tolerance=threshold,
                      status=status, reason=reason)


def _compare_exact(key: Key, b: Mapping[str, Any], c: Mapping[str, Any], claims: tuple[str, ...]
                   ) -> Comparison:
    bv, cv = float(np.mean(b["samples"])), float(np.mean(c["samples"]))
    status: Status = "unchanged"
    ratio, reason = 1.0, ""
    if cv != bv:  # exact: any difference is a change
        ratio = cv / bv if bv else math.inf
        worse = _worse(ratio, b["better"]) > 0
        status = "changed" if b["better"] == "none" else ("regression" if worse else "improvement")
        reason = EXACT_CHANGED
    return Comparison(claims, key[0], key[1], key[2], "exact", bv, cv, ratio, ratio, ratio, None, 0.0, status,
                      reason)


def compare_metric(key: Key, b: Mapping[str, Any], c: Mapping[str, Any], claims: tuple[str, ...], threshold: float,
             alpha: float) -> Comparison:
    noise = b["noise"]
    if noise == "timing":
        return _compare_timing(key, b, c, claims, threshold, alpha)
    if noise == "seeds":
        return _compare_seeds(key, b, c, claims, threshold, alpha)
    if noise == "fit":
        return _compare_fit(key, b, c, claims, threshold, alpha)
    return _compare_exact(key, b, c, claims)
