"""Synthetic result files for gate and report tests: real schema, made-up (seeded) samples."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kbench import results


def make_result(tmp: Path, *, suite: str = "toy", device: str = "NVIDIA H100 80GB HBM3", scale: float = 1.0,
                noise: float = 0.002, verdict: str = "reproduced", seed: int = 0, created: str = "2026-01-01T00:00:00",
                commit: str = "abc1234", n: int = 40) -> Path:
    """A result with two timed kernels (medians 1.0 and 2.0 ms, times `scale`) and one verdict."""
    rng = np.random.default_rng(seed)
    measurements = [
        results.Measurement(
            claim="speed", case={"shape": [128, 197, 768], "dtype": "float32"}, subject={"impl": impl, "pass": "fwd"},
            metric="time_ms", samples=(base * scale * (1 + noise * rng.standard_normal(n))).tolist(),
            summary={"median": base * scale, "ci_low": base * scale * 0.99, "ci_high": base * scale * 1.01,
                     "n": n},
            extra={"gbps": 1000.0 / (base * scale), "copy_fraction": 0.3 / (base * scale),
                   "errors_before": {"y": 1e-7}, "timing": "cuda-graph", "launch": {"fwd": f"BLOCK_R: {16 * base:g}"}})
        for impl, base in (("fast", 1.0), ("slow", 2.0))
    ]
    value = 2.0 / scale if verdict != "not-reproduced" else 0.5
    verdicts = [results.Verdict("speed", "speedup", verdict, value, [value * 0.98, value * 1.02], 2.0, value / 2.0,
                                ">= 1.5", "twice as fast", None,
                                [{"case": {"shape": [128, 197, 768]}, "value": value,
                                  "interval": [value * 0.98, value * 1.02]}])]
    run_id = f"{created.replace('-', '').replace(':', '')}Z-{device[:6].lower().replace(' ', '-')}-{seed:06d}"
    r = results.Result(suite=suite, suite_file=f"suites/{suite}.toml", suite_sha256="0" * 64, run_id=run_id,
                       created=created, env={"gpu": device, "git_commit": commit, "torch": "2.11", "triton": "3.6"},
                       paper={"id": suite, "title": f"The {suite} paper"}, peaks={"copy_gbps": 3000.0},
                       measurements=measurements, verdicts=verdicts)
    return results.write(r, tmp)
