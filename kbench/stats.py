"""Summaries and intervals of measured samples: pure functions over arrays, no devices, no files.

Two sources of noise, two levels:

- within a round (one warm-up, one allocation, many repetitions): described by the samples' median
  and a distribution-free interval of it, kept for the record (`summarize`);
- between rounds or seeds (independent repetitions of the whole measurement): what a verdict's
  interval is built from. Each round contributes one value (its median, or a ratio of medians);
  the claim's interval is a Student t interval over those values, on the log scale for positive
  quantities (`Estimate.from_logs`), so it covers the run-to-run spread as well as the noise
  inside each round. With few rounds a bootstrap over them would be too narrow (three values
  resample into at most ten distinct means); t widens with the degrees of freedom measured.

One round (or one seed) has no between-round spread: such an estimate carries no interval, and
the verdict it feeds is `inconclusive` by construction.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import TypeAlias

import numpy as np
from scipy import stats as sps

CONFIDENCE = 0.95
Values: TypeAlias = Sequence[float] | np.ndarray


@dataclass(frozen=True)
class Summary:
    """What is kept of one measurement's samples besides the samples themselves."""

    median: float
    ci_low: float  # interval of the median over all samples (within-round noise only)
    ci_high: float
    q1: float
    q3: float
    mean: float
    n: int
    rounds: int = 1  # independent groups (rounds of timing, seeds) the samples came in
    between_sd_log: float | None = None  # sd of the groups' log medians: the run-to-run spread

    def as_dict(self) -> dict[str, float | int | None]:
        return asdict(self)


def _as_array(samples: Values) -> np.ndarray:
    arr = np.asarray(samples, dtype=np.float64)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError("need a non-empty 1-D array of samples")
    if not np.all(np.isfinite(arr)):
        raise ValueError("samples contain NaN or infinity")
    return arr


def median_interval(samples: Values, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """A distribution-free interval of the median: the order statistics whose ranks a
    Binomial(n, 1/2) puts outside (1 - confidence) / 2 on each side. Exact coverage of at least
    `confidence` from 6 samples on; below that, [min, max]. No resampling: any n, little memory."""
    arr = np.sort(_as_array(samples))
    n = arr.size
    k = int(sps.binom.ppf((1 - confidence) / 2, n, 0.5))  # lower rank, 0-based after the -1 below
    lo = max(k - 1, 0)
    return float(arr[lo]), float(arr[n - 1 - lo])


def group_medians(samples: Values, groups: Sequence[int]) -> np.ndarray:
    """The median of each group (round) of samples, in the order the groups first appear."""
    arr = _as_array(samples)
    keys = list(dict.fromkeys(groups))
    labels = np.asarray(groups)
    if labels.shape != arr.shape:
        raise ValueError(f"{arr.size} samples but {labels.size} group labels")
    return np.array([np.median(arr[labels == k]) for k in keys])


def summarize(samples: Values, groups: Sequence[int] | None = None) -> Summary:
    arr = _as_array(samples)
    lo, hi = median_interval(arr)
    q1, med, q3 = np.percentile(arr, [25, 50, 75])
    rounds, spread = 1, None
    if groups is not None:
        per_group = group_medians(arr, groups)
        rounds = int(per_group.size)
        if rounds > 1 and np.all(per_group > 0):
            spread = float(np.std(np.log(per_group), ddof=1))
    return Summary(float(med), lo, hi, float(q1), float(q3), float(arr.mean()), int(arr.size), rounds, spread)


@dataclass(frozen=True)
class Estimate:
    """A value with its 95% interval; `low`/`high` are None where no interval could be formed.

    `center`, `se` and `df` describe the estimate on its working scale (log or linear) so that
    estimates of several cases can be combined without losing the degrees of freedom.
    """

    value: float
    low: float | None
    high: float | None
    scale: str = "log"  # "log": positive quantities (times, ratios); "linear": differences, shares
    se: float | None = None
    df: float | None = None
    n: int = 1  # independent values (rounds, seeds) behind it

    @property
    def has_interval(self) -> bool:
        return self.low is not None and self.high is not None

    @classmethod
    def from_values(cls, values: Values, scale: str = "log") -> Estimate:
        """Mean of independent values (per round or per seed) with a Student t interval; on the
        log scale the value is their geometric mean."""
        arr = _as_array(values)
        if scale == "log":
            if np.any(arr <= 0):
                raise ValueError("log-scale values must be positive")
            arr = np.log(arr)
        n = int(arr.size)
        center = float(arr.mean())
        if n < 2:
            return cls._build(center, None, None, scale, n)
        se = float(np.std(arr, ddof=1) / math.sqrt(n))
        return cls._build(center, se, float(n - 1), scale, n)

    @classmethod
    def exact(cls, value: float, scale: str = "log", n: int = 1) -> Estimate:
        """A value without noise (a count, a FLOP ratio, the worst of n seeds): its interval is the
        value itself."""
        return cls(value, value, value, scale, 0.0, None, n)

    @classmethod
    def _build(cls, center: float, se: float | None, df: float | None, scale: str, n: int) -> Estimate:
        back = math.exp if scale == "log" else (lambda v: v)
        if se is None or df is None or not df > 0:
            return cls(back(center), None, None, scale, None, None, n)
        half = _half_width(se, df) if se > 0 else 0.0
        return cls(back(center), back(center - half), back(center + half), scale, se, df, n)

    @property
    def center(self) -> float:
        return math.log(self.value) if self.scale == "log" else self.value

    @property
    def p_value(self) -> float:
        """Two-sided p-value of "the center is 0" (a ratio of 1 on the log scale): Student t with the
        estimate's df; 1.0 without a standard error, 0.0 for a nonzero center without any spread."""
        if self.se is None or self.df is None:
            return 1.0
        if self.se == 0:
            return 1.0 if self.center == 0 else 0.0
        return float(2 * sps.t.sf(abs(self.center) / self.se, self.df))


def paired_log_ratio(numerator: Values, denominator: Values) -> Estimate:
    """Ratio of two quantities measured in pairs (interleaved rounds, the same seed): the geometric
    mean of the per-pair ratios, with a t interval over pairs."""
    num, den = _as_array(numerator), _as_array(denominator)
    if num.size != den.size:
        raise ValueError(f"paired values: {num.size} against {den.size}")
    return Estimate.from_values(num / den, "log")


def unpaired_log_ratio(numerator: Values, denominator: Values) -> Estimate:
    """Ratio of the geometric means of two independent sets of values, with a Welch t interval."""
    a, b = Estimate.from_values(numerator), Estimate.from_values(denominator)  # log scale
    center = a.center - b.center
    if a.se is None or b.se is None:
        return Estimate._build(center, None, None, "log", min(a.n, b.n))
    se, df = _welch(((a.se, a.df), (b.se, b.df)))
    return Estimate._build(center, se, df, "log", min(a.n, b.n))


def _welch(parts: Sequence[tuple[float, float | None]]) -> tuple[float, float]:
    """Standard error of a sum of independent estimates and its Welch-Satterthwaite df (parts
    without spread add nothing to either)."""
    var = sum(se**2 for se, _ in parts)
    denom = sum(se**4 / df for se, df in parts if df)  # a part with se 0 adds 0
    return math.sqrt(var), (var**2 / denom if denom else math.inf)


def add_noise(est: Estimate, se: float, df: float) -> Estimate:
    """`est` with an independent noise source of standard error `se` (`df` degrees of freedom) added
    to its own: a seed interval widened by the test set's sampling noise. The variances add; the
    degrees of freedom are the fewer of the two (not Welch-Satterthwaite, whose pooled df can grow
    faster than the se and give an interval narrower than the seeds' own), so the result is never
    narrower than either source alone."""
    if est.se is None or est.df is None:
        return est
    return Estimate._build(est.center, math.hypot(est.se, se), min(est.df, df), est.scale, est.n)


def clipped(est: Estimate, low: float, high: float) -> Estimate:
    """`est` with its interval kept inside what the quantity can be (an accuracy difference: [-1, 1])."""
    if not est.has_interval:
        return est
    return replace(est, low=min(max(float(est.low), low), high), high=max(min(float(est.high), high), low))  # type: ignore[arg-type]


def geomean(estimates: Sequence[Estimate]) -> Estimate:
    """Geometric mean of positive per-case estimates; its interval combines every case's."""
    return _mean_of(estimates, "log")


def mean(estimates: Sequence[Estimate]) -> Estimate:
    """Arithmetic mean of per-case estimates on the linear scale."""
    return _mean_of(estimates, "linear")


def _mean_of(estimates: Sequence[Estimate], scale: str) -> Estimate:
    if not estimates:
        raise ValueError("no estimates to combine")
    if scale == "log" and any(e.value <= 0 for e in estimates):
        raise ValueError("a geometric mean needs positive values")
    centers = [math.log(e.value) if scale == "log" else e.value for e in estimates]
    k = len(estimates)
    center = sum(centers) / k
    n = min(e.n for e in estimates)
    if any(e.se is None for e in estimates):
        return Estimate._build(center, None, None, scale, n)
    se, df = _welch([(float(e.se) / k, e.df) for e in estimates])  # type: ignore[arg-type]
    return Estimate._build(center, se, df, scale, n)


def sampled_mean(estimates: Sequence[Estimate], scale: str) -> Estimate:
    """Mean over cases that stand for a family (tasks drawn from "symbolic regression"): the
    interval must cover the spread between the cases too, so it is the wider of the Student t
    interval across the case values (k - 1 df) and the one from the cases' own errors."""
    within = _mean_of(estimates, scale)
    k = len(estimates)
    if k < 2:
        return within
    centers = np.array([math.log(e.value) if scale == "log" else e.value for e in estimates])
    across_se, across_df = float(np.std(centers, ddof=1) / math.sqrt(k)), float(k - 1)
    if within.se is None or within.df is None:
        return Estimate._build(within.center, across_se, across_df, scale, within.n)
    if _half_width(across_se, across_df) <= _half_width(within.se, within.df):
        return within
    return Estimate._build(within.center, across_se, across_df, scale, within.n)


def trend(x: Values, y: Values) -> Estimate:
    """The least-squares slope of y against x with a Student t interval (n - 2 degrees of freedom):
    the points' scatter about the line is the noise, so rounds that disagree and a curve that is
    not a line both widen it."""
    xs, ys = _as_array(x), _as_array(y)
    if xs.size < 3 or np.ptp(xs) == 0:
        raise ValueError("a trend needs at least three points at two or more distinct x")
    fit = sps.linregress(xs, ys)
    return Estimate._build(float(fit.slope), float(fit.stderr), float(xs.size - 2), "linear", int(xs.size))


def _half_width(se: float, df: float) -> float:
    return float(sps.t.ppf(0.5 + CONFIDENCE / 2, df)) * se


def worst(estimates: Sequence[Estimate], lower_is_worse: bool) -> Estimate:
    """The worst case in the rule's direction, with an interval that is conservative for "every
    case satisfies the rule": the lowest low and lowest high (or the highest of both)."""
    if not estimates:
        raise ValueError("no estimates to combine")
    pick = min if lower_is_worse else max
    chosen = pick(estimates, key=lambda e: e.value)
    n = min(e.n for e in estimates)
    if any(not e.has_interval for e in estimates):
        return replace(chosen, low=None, high=None, se=None, df=None, n=n)
    low = pick(float(e.low) for e in estimates)  # type: ignore[arg-type]
    high = pick(float(e.high) for e in estimates)  # type: ignore[arg-type]
    return replace(chosen, low=low, high=high, n=n)


POWER = 0.8  # the power a detectable effect is stated at
MAX_NEEDED = 10_000


@dataclass(frozen=True)
class Power:
    """What an estimate of n independent values could tell from a bound: the smallest distance
    (on the estimate's own scale: a factor for log-scale values) it would show at 95% confidence
    with 80% power, and about how many values the measured distance would need."""

    n: int
    detectable: float  # a difference (linear) or a factor (log)
    needed: int | None  # None: the measured value is on the bound (or needs more than MAX_NEEDED)
    scale: str

    def describe(self) -> str:
        size = f"x{self.detectable:.3g}" if self.scale == "log" else f"{self.detectable:.3g}"
        need = (f"the measured distance would need about {self.needed}" if self.needed is not None
                else f"the measured distance would need more than {MAX_NEEDED}")
        return (f"{self.n} independent values could tell a distance of {size} from the bound at "
                f"{POWER:.0%} power; {need}")


def _power_factor(n: int) -> float:
    return float(sps.t.ppf(0.5 + CONFIDENCE / 2, n - 1) + sps.t.ppf(POWER, n - 1)) / math.sqrt(n)


def power(est: Estimate, bound: float) -> Power | None:
    """The power of `est` against `bound`, from its own spread (sd = se * sqrt(n), a Student t
    mean of n values); None for an estimate that is not one (a combination of cases, no spread)."""
    if est.se is None or est.df is None or est.n < 2 or est.df != est.n - 1 or not est.se > 0:
        return None
    if est.scale == "log" and not bound > 0:
        return None
    sd = est.se * math.sqrt(est.n)
    detectable = _power_factor(est.n) * sd
    distance = abs(est.center - (math.log(bound) if est.scale == "log" else bound))
    needed = next((m for m in range(2, MAX_NEEDED + 1) if _power_factor(m) * sd <= distance), None)
    return Power(est.n, math.exp(detectable) if est.scale == "log" else detectable, needed, est.scale)
