"""The runner: suite -> (claims x cases x implementations on one device) -> Result.

Claims run one after another; each becomes exactly one verdict. A claim that cannot run here is
`skipped` with the reason, one whose implementation fails or computes the wrong answer is
`error` with the message, and the others get a verdict from their measured interval. A
deterministic slice of the claims (`shard`) can run on its own and write its own result file.
Ctrl-C stops the run and keeps what was measured so far (the result is marked `interrupted`).
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from kbench import devices, env, stats, timing, verdicts
from kbench.errors import KbenchError
from kbench.kinds import COLLECTORS
from kbench.kinds.base import ClaimData, Context, Failed, Skip
from kbench.results import Measurement, Result, Verdict, VerdictName, new_run_id, utc_now
from kbench.suite import KIND_SPECS, Claim, Suite

QUICK_KERNEL = timing.TimingConfig(warmup_ms=20, budget_ms=60, min_reps=5, max_reps=100)
FULL_KERNEL = timing.TimingConfig()
QUICK_MODEL = timing.TimingConfig(warmup_ms=200, budget_ms=500, min_reps=3, max_reps=20, flush_l2=False)
FULL_MODEL = timing.TimingConfig(warmup_ms=1000, budget_ms=4000, min_reps=5, max_reps=60, flush_l2=False)


@dataclass(frozen=True)
class Shard:
    index: int  # 0-based
    count: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        """'i/N' with 1 <= i <= N, as written on the command line."""
        try:
            i, n = (int(p) for p in text.split("/"))
        except ValueError:
            raise KbenchError(f"--shard: expected i/N such as 1/4, got {text!r}") from None
        if not 1 <= i <= n:
            raise KbenchError(f"--shard: expected 1 <= i <= N, got {text!r}")
        return cls(i - 1, n)

    def __str__(self) -> str:
        return f"{self.index + 1}/{self.count}"


@dataclass(frozen=True)
class RunOptions:
    device: torch.device
    quick: bool = False  # smaller timing budgets, for smoke runs
    only: tuple[str, ...] = ()  # claim ids; empty = all
    shard: Shard | None = None
    seed: int = 0
    measure_peaks: bool = True
    progress: Callable[[str], None] = field(default=lambda message: None)


def select_claims(suite: Suite, only: tuple[str, ...], shard: Shard | None) -> list[Claim]:
    """The claims this run takes: those named in `only`, then every N-th of them for a shard."""
    known = {c.id for c in suite.claims}
    unknown = [c for c in only if c not in known]
    if unknown:
        raise KbenchError(f"--only: {suite.path} has no claim {unknown[0]!r} (it has {', '.join(sorted(known))})")
    claims = [c for c in suite.claims if not only or c.id in only]
    if shard is not None:
        claims = [c for i, c in enumerate(claims) if i % shard.count == shard.index]
    return claims


def _skipped(claim: Claim, verdict: VerdictName, reason: str) -> Verdict:
    return Verdict(claim.id, claim.kind, verdict, None, None, claim.paper_value, None, claim.rule.describe(),
                   claim.quote, reason)


def combine(claim: Claim, data: ClaimData) -> stats.Estimate:
    """The claim's value from its cases: geometric mean, or the worst case for error bounds."""
    points, draws = [v.point for v in data.values], [v.draws for v in data.values]
    if not points:
        raise Skip("the claim has no cases for this device")
    if KIND_SPECS[claim.kind].combine == "max":
        lo, hi = stats.interval(np.max(np.vstack(draws), axis=0))
        return stats.Estimate(max(points), lo, hi)
    return stats.geomean_estimate(points, draws)


def judge(claim: Claim, data: ClaimData) -> Verdict:
    """Combine the per-case values and apply the claim's rule."""
    est = combine(claim, data)
    verdict, reason = verdicts.decide(claim.rule, est)
    per_case = [{"case": dict(v.case), "value": v.point, "interval": list(stats.interval(v.draws))}
                for v in data.values]
    return Verdict(claim.id, claim.kind, verdict, est.value, [est.low, est.high], claim.paper_value,
                   verdicts.ratio_to_paper(est.value, claim.paper_value), claim.rule.describe(), claim.quote,
                   reason, per_case)


def run_claim(claim: Claim, ctx: Context) -> tuple[Verdict, list[Measurement]]:
    reason = devices.unmet(claim.requires, ctx.device)
    if reason:
        return _skipped(claim, "skipped", reason), []
    try:
        data = COLLECTORS[claim.kind](claim, ctx)
        return judge(claim, data), data.measurements
    except Skip as exc:
        return _skipped(claim, "skipped", str(exc)), []
    except Failed as exc:
        return _skipped(claim, "error", str(exc)), []
    except Exception as exc:  # any failure of the code under test becomes this claim's error verdict
        detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        return _skipped(claim, "error", f"{type(exc).__name__} while measuring: {detail[-800:]}"), []


def _identity(m: Measurement) -> str:
    """What a measurement measured, whichever claim it is filed under."""
    return f"{m.metric}|{sorted(m.subject.items())}|{sorted((k, str(v)) for k, v in m.case.items())}"


def _warm_device(device: torch.device, seconds: float = 2.0) -> None:
    """Bring an idle GPU's clocks up (seen at 345 MHz before a run) before anything is timed."""
    if device.type != "cuda":
        return
    a = torch.randn(4096, 4096, device=device, dtype=torch.bfloat16)
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        for _ in range(20):
            a @ a
        torch.cuda.synchronize(device)


def _measure_peaks(ctx: Context, quick: bool) -> None:
    nbytes = (1 << 28) if quick or ctx.device.type == "cpu" else (1 << 30)
    ctx.progress("measuring device-to-device copy bandwidth")
    gbps = timing.copy_bandwidth_gbps(ctx.device, nbytes)
    ctx.peaks.update({"copy_gbps": float(np.median(gbps)), "copy_gbps_summary": stats.summarize(gbps).as_dict(),
                      "copy_bytes": nbytes})


def run(suite: Suite, options: RunOptions) -> Result:
    claims = select_claims(suite, options.only, options.shard)
    created = utc_now()
    info = env.collect(options.device)
    result = Result(
        suite=suite.name, suite_file=suite.path, suite_sha256=suite.sha256,
        run_id=new_run_id(created, env.device_slug(info)), created=created.isoformat(), env=info,
        paper={"id": suite.paper.id, "title": suite.paper.title, "arxiv": suite.paper.arxiv},
        shard=None if options.shard is None else str(options.shard),
        thresholds={c.id: c.max_slowdown for c in claims if c.max_slowdown is not None},
    )
    ctx = Context(
        device=options.device, seed=options.seed, progress=options.progress,
        kernel_timing=QUICK_KERNEL if options.quick else FULL_KERNEL,
        model_timing=QUICK_MODEL if options.quick else FULL_MODEL, max_clock_mhz=info.get("sm_clock_max_mhz"),
    )
    done: set[str] = set()
    try:
        if options.measure_peaks:
            options.progress("warming up the device")
            _warm_device(options.device, 0.5 if options.quick else 2.0)
            _measure_peaks(ctx, options.quick)
        for claim in claims:
            options.progress(f"claim {claim.id}")
            verdict, measurements = run_claim(claim, ctx)
            result.verdicts.append(verdict)
            result.measurements += measurements
            done.add(claim.id)
            if options.device.type == "cuda":
                torch.cuda.empty_cache()
    except KeyboardInterrupt:
        result.interrupted = True
        # Measurements of the claim in progress sit in the cache: keep those not recorded yet.
        recorded = {_identity(m) for m in result.measurements}
        result.measurements += [m for m in ctx.cache.values() if _identity(m) not in recorded]
        result.verdicts += [_skipped(c, "skipped", "the run was interrupted (Ctrl-C) before this claim finished")
                            for c in claims if c.id not in done]
    result.peaks = ctx.peaks
    result.env["sm_clock_mhz_end"] = env.sm_clock_mhz(options.device)
    result.finished = utc_now().isoformat()
    return result
