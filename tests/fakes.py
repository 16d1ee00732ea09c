"""Fakes for the kinds' tests: a timer with known times, measurements with known samples."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pytest

from kbench import timing


def fake_timer(monkeypatch: pytest.MonkeyPatch, ms: Mapping[str, Sequence[float]], reps: int = 5) -> None:
    """Make every CPU round of workload `name` (an implementation or a model subject label) take
    exactly ms[name][r] milliseconds per call in its round r. The workload really runs once per
    input set, so its outputs are still checked."""
    rounds: dict[str, int] = {}

    def fake_round(work: Any, config: timing.TimingConfig) -> timing.Round:
        name = work.impl.name if hasattr(work, "impl") else work.label
        r = rounds.get(name, 0)
        rounds[name] = r + 1
        kept = []
        for i in range(work.slots):
            work.prepare(i)
            given = work.given()
            kept.append((given, {k: v.detach().clone() for k, v in work().items()}))
        return timing.Round(np.full(reps, float(ms[name][r])), kept)

    monkeypatch.setattr(timing, "cpu_round", fake_round)
    monkeypatch.setattr(timing, "copy_bandwidth_gbps", lambda device, nbytes=0, reps=20: np.full(reps, 100.0))


def timed(role: str, rounds: Sequence[float], *, metric: str = "time_ms", case: Mapping[str, Any] | None = None,
          nbytes: int = 0, reps: int = 3, method: str = "perf-counter") -> dict[str, Any]:
    """A stored timing measurement: `reps` samples per round, each round's median as given."""
    samples, groups = [], []
    for r, value in enumerate(rounds):
        samples += [value * f for f in np.linspace(0.99, 1.01, reps)]
        groups += [r] * reps
    return {"claim": "c", "case": dict(case or {"shape": [4, 8]}), "subject": {"impl": role}, "metric": metric,
            "unit": "ms", "better": "lower", "noise": "timing", "role": role, "status": "ok", "samples": samples,
            "groups": groups, "summary": {"median": float(np.median(samples))}, "extra": {"timing": method,
                                                                                         "bytes": nbytes}}


def seeded(role: str, values: Sequence[float], metric: str, *, case: Mapping[str, Any] | None = None,
           noise: str = "seeds") -> dict[str, Any]:
    return {"claim": "c", "case": dict(case or {"shape": [4, 8]}), "subject": {"impl": role}, "metric": metric,
            "unit": "relative", "better": "lower", "noise": noise, "role": role, "status": "ok",
            "samples": list(values), "groups": list(range(len(values))),
            "summary": {"median": float(np.median(values))}, "extra": {}}
