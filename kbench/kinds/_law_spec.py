"""A law claim's analysis choices as one spec: the statistic, the claimed form and its rivals, the
criterion, the late window, the direction; checked against the points a case has."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kbench import law_records

SPEC_KEYS = ("statistic", "form", "alternatives", "criterion", "param", "late", "neighbourhood", "direction")


LATE_STEP = 0.125


SPEC_DEFAULTS: dict[str, Any] = {"late": 0.5, "criterion": "loo"}


def spec(options: Mapping[str, Any]) -> dict[str, Any]:
    spec = {k: options[k] for k in SPEC_KEYS if options.get(k) is not None}
    if "neighbourhood" not in spec and spec.get("statistic") == "slope":
        spec["neighbourhood"] = {"late": default_windows(float(spec.get("late", 0.5)))}
    return spec


def default_windows(late: float) -> list[float]:
    """The slope windows a verdict must survive by default: from `late` - 0.125 (not below 0.25) up
    to every point, in steps of 0.125."""
    start = max(0.25, late - LATE_STEP)
    steps = int(round((1.0 - start) / LATE_STEP))
    return sorted({round(min(1.0, start + i * LATE_STEP), 6) for i in range(steps + 1)} | {1.0})


def check_spec(spec: Mapping[str, Any], points: int) -> str | None:
    """What is wrong with a law's statistic and forms for this many points, or None."""
    return law_records.spec_problem(spec, points)
