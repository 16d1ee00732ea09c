"""Summaries and intervals of measured samples: pure functions over arrays, no devices, no files.

Medians with percentile-bootstrap 95% intervals. Ratios of two independent sample sets are
bootstrapped by resampling each set on its own; a claim over several cases uses the geometric
mean of the per-case ratios, bootstrapped draw by draw, so the interval covers every case's noise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats as sps

N_BOOT = 2000
CONFIDENCE = 0.95
SEED = 20251  # fixed: the same samples always give the same interval


@dataclass(frozen=True)
class Summary:
    """What is kept of a sample array besides the samples themselves."""

    median: float
    ci_low: float
    ci_high: float
    q1: float
    q3: float
    mean: float
    n: int

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


def _as_array(samples: Sequence[float] | np.ndarray) -> np.ndarray:
    arr = np.asarray(samples, dtype=np.float64)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError("need a non-empty 1-D array of samples")
    if not np.all(np.isfinite(arr)):
        raise ValueError("samples contain NaN or infinity")
    return arr


def median_draws(samples: Sequence[float] | np.ndarray, n_boot: int = N_BOOT, seed: int = SEED) -> np.ndarray:
    """Bootstrap replicates of the median (resampling with replacement)."""
    arr = _as_array(samples)
    if arr.size == 1:
        return np.full(n_boot, arr[0])
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, arr.size, size=(n_boot, arr.size))
    return np.asarray(np.median(arr[idx], axis=1), dtype=np.float64)


def interval(draws: np.ndarray, confidence: float = CONFIDENCE) -> tuple[float, float]:
    tail = (1 - confidence) / 2 * 100
    lo, hi = np.percentile(draws, [tail, 100 - tail])
    return float(lo), float(hi)


def summarize(samples: Sequence[float] | np.ndarray) -> Summary:
    arr = _as_array(samples)
    lo, hi = interval(median_draws(arr))
    q1, med, q3 = np.percentile(arr, [25, 50, 75])
    return Summary(float(med), lo, hi, float(q1), float(q3), float(arr.mean()), int(arr.size))


@dataclass(frozen=True)
class Estimate:
    """A point value with its 95% interval."""

    value: float
    low: float
    high: float


def ratio_draws(numerator: Sequence[float] | np.ndarray, denominator: Sequence[float] | np.ndarray,
                seed: int = SEED) -> np.ndarray:
    """Bootstrap replicates of median(numerator) / median(denominator), sets resampled apart."""
    return np.asarray(median_draws(numerator, seed=seed) / median_draws(denominator, seed=seed + 1))


def geomean_estimate(point_ratios: Sequence[float], draws: Sequence[np.ndarray]) -> Estimate:
    """Geometric mean of per-case ratios, with the interval of the draw-wise geometric mean."""
    points = np.asarray(point_ratios, dtype=np.float64)
    if points.size == 0 or np.any(points <= 0):
        raise ValueError("ratios must be positive")
    stacked = np.log(np.vstack([np.asarray(d, dtype=np.float64) for d in draws]))
    lo, hi = interval(np.exp(stacked.mean(axis=0)))
    return Estimate(float(np.exp(np.log(points).mean())), lo, hi)


def mann_whitney_p(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray) -> float:
    """Two-sided Mann-Whitney U p-value (asv's significance test); 1.0 when it cannot be computed."""
    x, y = _as_array(a), _as_array(b)
    if x.size < 2 or y.size < 2:
        return 1.0
    return float(sps.mannwhitneyu(x, y, alternative="two-sided").pvalue)
