"""Synthetic result files for gate, merge and report tests: real schema, made-up (seeded) samples."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from kbench import results

RULE = {"at_least": 1.5, "at_most": None, "of_paper": False, "text": ">= 1.5"}


def make_result(tmp: Path, *, suite: str = "toy", device: str = "NVIDIA H100 80GB HBM3", scale: float = 1.0,
                noise: float = 0.002, round_noise: float = 0.002, verdict: str = "reproduced", seed: int = 0,
                created: str | None = None, commit: str = "abc1234", n: int = 20, rounds: int = 5,
                error_scale: float = 1.0, flops: float = 1e9, digest: str = "d" * 64,
                shard: str | None = None) -> Path:
    """A result with two timed kernels (medians 1.0 and 2.0 ms, times `scale`) in `rounds` rounds,
    a seeded error metric (times `error_scale`), an exact FLOP count, and one verdict. Each seed
    starts at its own time (a run of its own) unless `created` says."""
    created = created or f"2026-01-01T00:{seed // 60 % 60:02d}:{seed % 60:02d}"
    rng = np.random.default_rng(seed)
    case = {"shape": [128, 197, 768], "dtype": "float32"}
    measurements = []
    for impl, base in (("fast", 1.0), ("slow", 2.0)):
        offsets = 1 + round_noise * rng.standard_normal(rounds)
        samples = np.concatenate([base * scale * o * (1 + noise * rng.standard_normal(n)) for o in offsets])
        measurements.append(results.Measurement(
            claim="speed", case=case, subject={"impl": impl, "pass": "fwd"}, metric="time_ms", unit="ms",
            role="baseline" if impl == "slow" else "candidate", samples=samples.tolist(),
            groups=[r for r in range(rounds) for _ in range(n)],
            summary={"median": base * scale, "ci_low": base * scale * 0.99, "ci_high": base * scale * 1.01,
                     "n": n * rounds, "rounds": rounds, "between_sd_log": round_noise},
            extra={"gbps": 1000.0 / (base * scale), "copy_fraction": 0.3 / (base * scale),
                   "errors_before": {"y": 1e-7}, "timing": "cuda-graph", "launch": {"fwd": f"BLOCK_R: {16 * base:g}"}}))
    # seeded errors: each run's own draws (independent noise, not a transform of another run's)
    errors = (1e-7 * error_scale * (1 + 0.05 * np.arange(5)) * (1 + 0.01 * rng.standard_normal(5))).tolist()
    measurements.append(results.Measurement(
        claim="precise", case=case, subject={"impl": "fast"}, metric="rel_err_dA", unit="relative", noise="seeds",
        samples=errors, groups=list(range(5)), summary={"median": float(np.median(errors))}))
    measurements.append(results.Measurement(
        claim="flops", case={"size": "tiny"}, subject={"model": "kat", "impl": "torch_reference"}, metric="flops",
        unit="FLOPs", better="none", noise="exact", samples=[flops], summary={"median": flops},
        device_independent=True))
    value = 2.0 / scale if verdict != "not-reproduced" else 0.5
    verdicts = [results.Verdict("speed", "speedup", verdict, value, [value * 0.98, value * 1.02], 2.0, value / 2.0,
                                RULE, "twice as fast", None,
                                [{"case": {"shape": [128, 197, 768]}, "value": value,
                                  "interval": [value * 0.98, value * 1.02]}], n=rounds),
                results.Verdict("precise", "max-error", "reproduced", max(errors), [max(errors)] * 2, None, None,
                                {"at_most": 1e-6, "at_least": None, "of_paper": False, "text": "<= 1e-06"}, "exact",
                                combine="worst", n=5),
                results.Verdict("flops", "flops-ratio", "reproduced", 1.0, [1.0, 1.0], None, None,
                                {"at_least": 0.95, "at_most": 1.05, "of_paper": False, "text": ">= 0.95 and <= 1.05"},
                                "similar", combine="each", n=1)]
    run_id = f"{created.replace('-', '').replace(':', '')}Z-{device[:6].lower().replace(' ', '-')}-{seed:06d}"
    r = results.Result(suite=suite, suite_file=f"suites/{suite}.toml", suite_sha256="0" * 64, run_id=run_id,
                       created=created, env={"gpu": device, "git_commit": commit, "torch": "2.11", "triton": "3.6"},
                       paper={"id": suite, "title": f"The {suite} paper"}, peaks={"copy_gbps": 3000.0},
                       provenance={"digest": digest, "files": {}}, measurements=measurements, verdicts=verdicts,
                       plan={"seed": seed}, shard=shard)
    return results.write(r, tmp)


def mark_timings(result: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A loaded result whose timing measurements carry `extra` (a timing method, an emulation)."""
    for m in result["measurements"]:
        if m["noise"] == "timing":
            m["extra"].update(extra)
    return result
