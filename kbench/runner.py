"""The runner: suite -> (claims x cases x implementations on one device) -> Result.

Claims run one after another; each becomes exactly one verdict, and every measurement it took is
kept whatever happens next. A claim that cannot run here is `skipped` with the reason, one whose
implementation fails or computes the wrong answer is `error` with the message, one whose
measurements cannot support a verdict is `inconclusive` with the reason, and the others are
judged (kbench.judging). A deterministic slice of the claims (`shard`) can run on its own. Ctrl-C
stops the run and keeps what was measured (the result is marked `interrupted`); a process killed
outright keeps the claims it finished through the checkpoint it is handed.
"""

from __future__ import annotations

import dataclasses
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from kbench import cotenancy, devices, env, provenance, stats, timing
from kbench import replicates as replicates_mod
from kbench.claims import Claim, Suite
from kbench.errors import KbenchError
from kbench.judging import judge
from kbench.kinds import KINDS
from kbench.kinds.base import Context, Failed, NotJudged, Skip
from kbench.results import Result, Verdict, VerdictName, new_run_id, utc_now

FULL_KERNEL = timing.TimingConfig(warmup_ms=100, budget_ms=200, min_reps=10, max_reps=500, rounds=5)
FULL_MODEL = timing.TimingConfig(warmup_ms=1000, budget_ms=3000, min_reps=3, max_reps=40, flush_l2=False, rounds=3)
QUICK_KERNEL = timing.TimingConfig(warmup_ms=10, budget_ms=30, min_reps=5, max_reps=50, rounds=2)
QUICK_MODEL = timing.TimingConfig(warmup_ms=100, budget_ms=300, min_reps=2, max_reps=10, flush_l2=False, rounds=2)
QUICK_BUDGET = 0.25  # --quick: seeds, steps and rounds scaled by this (never below what a kind needs)
PLAN_WHY = ("Each timing is taken in independent rounds (fresh allocation, warm-up and inputs; a claim's sides "
            "interleaved round by round) and a verdict's interval is a Student t interval over the per-round values, "
            "so it includes the run-to-run spread. Kernel timings take {k} rounds (t with {kd} df multiplies the "
            "standard error by {kt:.2f}); train steps take {m} (t {mt:.2f}), as each step of a slow model costs "
            "seconds. Seeded errors use one value per seed the same way. One round gives no interval, and no verdict "
            "beyond inconclusive.")

KILLED = "the run stopped (its process was killed) before this claim finished"
STOPPED = "the run was interrupted (Ctrl-C or SIGTERM) before this claim finished"
# reasons of claims a run never got to (another run may finish them), with the wording of older files
UNFINISHED = (KILLED, STOPPED, "the run was interrupted (Ctrl-C) before this claim finished")


MAX_SHARDS = 4096  # more slices than any suite has claims, far from what a job array takes


@dataclass(frozen=True)
class Shard:
    """The i-th of N deterministic slices of a suite's claims."""

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
        if n > MAX_SHARDS:
            raise KbenchError(f"--shard: expected at most {MAX_SHARDS} shards (N), got {text!r}")
        return cls(i - 1, n)

    def __str__(self) -> str:
        return f"{self.index + 1}/{self.count}"


@dataclass(frozen=True)
class RunOptions:
    device: torch.device
    quick: bool = False  # smaller budgets and fewer rounds, seeds and steps, for smoke runs
    only: tuple[str, ...] = ()  # claim ids; empty = all
    shard: Shard | None = None
    seed: int = 0
    replicates: int = 1  # master seeds each seeded claim runs under (kbench.replicates; the CLI's default is 2)
    progress: Callable[[str], None] = field(default=lambda message: None)
    # called after every claim with the result so far and the claims still to run (as skipped
    # verdicts): the CLI keeps a checkpoint file, so a killed process loses one claim at most
    checkpoint: Callable[[Result, list[Verdict]], None] | None = None


def shard_plan(claims: list[Claim], count: int) -> list[list[Claim]]:
    """Claims split into `count` shards of about equal expected cost (Kind.cost: kernel claims are
    seconds, training claims minutes): the costliest first, each to the shard with the least so
    far (ties: the lower shard), then each shard in suite order. Deterministic: every shard of a
    run computes the same plan from the same suite, wherever it runs."""
    costs = [max(KINDS[c.kind].cost(c), 1e-9) for c in claims]
    loads = [0.0] * count
    members: list[list[int]] = [[] for _ in range(count)]
    for i in sorted(range(len(claims)), key=lambda i: (-costs[i], i)):
        target = min(range(count), key=lambda s: (loads[s], s))
        loads[target] += costs[i]
        members[target].append(i)
    return [[claims[i] for i in sorted(m)] for m in members]


def select_claims(suite: Suite, only: tuple[str, ...], shard: Shard | None) -> list[Claim]:
    """The claims this run takes: this shard's part of the suite (`shard_plan` over all its
    claims, so the split is the same whatever `only` says), then those named in `only`."""
    known = {c.id for c in suite.claims}
    unknown = [c for c in only if c not in known]
    if unknown:
        raise KbenchError(f"--only: {suite.path} has no claim {unknown[0]!r} (it has {', '.join(sorted(known))})")
    claims = list(suite.claims) if shard is None else shard_plan(list(suite.claims), shard.count)[shard.index]
    claims = [c for c in claims if not only or c.id in only]
    if shard is not None and not claims:
        raise KbenchError(f"--shard {shard}: this shard holds no claims{' named by --only' if only else ''} "
                          f"({suite.path} has {len(suite.claims)}); use at most that many shards")
    return claims


def _unjudged(claim: Claim, verdict: VerdictName, reason: str) -> Verdict:
    return Verdict(claim.id, claim.kind, verdict, None, None, claim.paper_value, None,
                   claim.rule.as_dict(claim.paper_value), claim.quote, reason, combine=claim.combine,
                   unit=KINDS[claim.kind].unit, paper=claim.paper)


def _short_traceback(exc: BaseException) -> str:
    """The exception and the last frames that raised it: enough to find it, short enough to read."""
    frames = traceback.extract_tb(exc.__traceback__)[-3:]
    where = "; ".join(f"{f.filename.rsplit('/', 1)[-1]}:{f.lineno} in {f.name}" for f in frames)
    detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    return f"{detail[-600:]} (at {where})"


def _collect(claim: Claim, ctx: Context, replicates: int) -> None:
    """The claim's measurements; a kind that trains or draws seeds runs once per master seed, each
    replicate the whole pipeline (split, initialisation, tuning, training) under its own seed."""
    if not KINDS[claim.kind].replicated:
        KINDS[claim.kind].collect(claim, ctx)
        return
    base = ctx.seed
    masters = replicates_mod.master_seeds(base, replicates)
    try:
        for r, master in enumerate(masters):
            ctx.seed, ctx.replicate = master, master
            if len(masters) > 1:
                ctx.progress(f"{claim.id}: replicate {r + 1}/{len(masters)} (master seed {master})")
            KINDS[claim.kind].collect(claim, ctx)
    finally:
        ctx.seed, ctx.replicate = base, None


def run_claim(claim: Claim, ctx: Context, replicates: int = 1) -> Verdict:
    """Measure and judge one claim; its measurements are in ctx.recorded whatever the outcome."""
    ctx.claim_id, ctx.recorded = claim.id, []
    reason = devices.unmet(claim.requires, ctx.device)
    if reason:
        return _unjudged(claim, "skipped", reason)
    try:
        _collect(claim, ctx, replicates)
        return judge(claim, [dataclasses.asdict(m) for m in ctx.recorded], ctx.peaks)
    except Skip as exc:
        return _unjudged(claim, "skipped", str(exc))
    except Failed as exc:
        return _unjudged(claim, "error", str(exc))
    except NotJudged as exc:
        return _unjudged(claim, "inconclusive", f"not judged: {exc}")
    except Exception as exc:  # any failure of the code under test becomes this claim's error verdict
        return _unjudged(claim, "error", f"{type(exc).__name__} while measuring: {_short_traceback(exc)}")
    except SystemExit as exc:  # as must its exit(): it would end the run without a word
        return _unjudged(claim, "error", f"the code under test called sys.exit({exc.code!r}) while measuring")


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
    peak = timing.memory_peak_gbps(ctx.device)
    if peak is not None:
        ctx.peaks["memory_peak_gbps"] = peak


def plan(quick: bool, seed: int = 0, replicates: int = 1) -> dict[str, object]:
    kernel, model = (QUICK_KERNEL, QUICK_MODEL) if quick else (FULL_KERNEL, FULL_MODEL)
    from scipy import stats as sps


    def t(rounds: int) -> float:
        return float(sps.t.ppf(0.975, rounds - 1))

    return {"kernel_rounds": kernel.rounds, "model_rounds": model.rounds, "budget": QUICK_BUDGET if quick else 1.0,
            "seed": seed, "replicates": replicates, "master_seeds": replicates_mod.master_seeds(seed, replicates),
            "why": PLAN_WHY.format(k=kernel.rounds, kd=kernel.rounds - 1, kt=t(kernel.rounds), m=model.rounds,
                                   mt=t(model.rounds))}


def new_result(suite: Suite, options: RunOptions, claims: list[Claim]) -> Result:
    created = utc_now()
    info = env.collect(options.device)
    return Result(
        suite=suite.name, suite_file=suite.path, suite_sha256=suite.sha256,
        run_id=new_run_id(created, env.device_slug(info)), created=created.isoformat(), env=info,
        paper={"id": suite.paper.id, "title": suite.paper.title, "arxiv": suite.paper.arxiv},
        shard=None if options.shard is None else str(options.shard),
        plan={**plan(options.quick, options.seed, options.replicates), "claims": [c.id for c in claims],
              **({"shard_claims": [c.id for c in shard_plan(list(suite.claims), options.shard.count)[
                  options.shard.index]]} if options.shard is not None else {})},
        provenance=provenance.record(suite.path),
        thresholds={c.id: c.max_slowdown for c in claims if c.max_slowdown is not None},
    )


def run(suite: Suite, options: RunOptions, claims: list[Claim] | None = None) -> Result:
    claims = claims if claims is not None else select_claims(suite, options.only, options.shard)
    result = new_result(suite, options, claims)
    ctx = Context(
        device=options.device, seed=options.seed, progress=options.progress,
        budget=QUICK_BUDGET if options.quick else 1.0,
        kernel_timing=QUICK_KERNEL if options.quick else FULL_KERNEL,
        model_timing=QUICK_MODEL if options.quick else FULL_MODEL, max_clock_mhz=result.env.get("sm_clock_max_mhz"),
    )
    check = cotenancy.checker(options.device)
    result.env["cotenancy_check"] = ("on" if check is not None else "off (no NVML)" if options.device.type == "cuda"
                                     else "off (not Linux, or KBENCH_HOST_CHECK=off)")
    if check is not None:
        ctx.cotenants = check
    done: set[str] = set()
    try:
        if any(KINDS[c.kind].needs_copy_bandwidth and not devices.unmet(c.requires, options.device) for c in claims):
            options.progress("warming up the device")
            _warm_device(options.device, 0.5 if options.quick else 2.0)
            _measure_peaks(ctx, options.quick)
        seconds = result.plan.setdefault("claim_seconds", {})  # what the next run's estimate reads
        for claim in claims:
            options.progress(f"claim {claim.id}")
            started = time.perf_counter()
            verdict = run_claim(claim, ctx, options.replicates)
            seconds[claim.id] = round(time.perf_counter() - started, 1)
            result.verdicts.append(verdict)
            result.measurements += ctx.recorded
            done.add(claim.id)
            if options.checkpoint is not None:
                options.checkpoint(result, [_unjudged(c, "skipped", KILLED) for c in claims if c.id not in done])
            if options.device.type == "cuda":
                torch.cuda.empty_cache()
    except KeyboardInterrupt:
        result.interrupted = True
        if ctx.claim_id and ctx.claim_id not in done:
            result.measurements += ctx.recorded  # filed under the claim in progress
        result.verdicts += [_unjudged(c, "skipped", STOPPED) for c in claims if c.id not in done]
    result.peaks = ctx.peaks
    result.env["sm_clock_mhz_end"] = env.sm_clock_mhz(options.device)
    result.finished = utc_now().isoformat()
    return result

