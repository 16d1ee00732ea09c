"""What a claim kind is, and the context every kind measures in.

A kind is one object (`Kind`): its typed parameters (case keys, options, side fields), how its
cases combine, what the run must provide (copy bandwidth), `collect` (measure on the device; each
measurement is recorded in the context the moment it exists, so a claim that fails later keeps
it) and `evaluate` (measurements -> one estimate per case: pure, no device, so the same code
judges a fresh run, a merge of rounds and a schema-1 file). Adding a kind is one module plus
one line in kbench/kinds/__init__.py.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import torch

from kbench import devices, env, registry, stats
from kbench.claims import Claim
from kbench.params import Param
from kbench.results import Measurement
from kbench.stats import Estimate
from kbench.timing import TimingConfig


class Skip(Exception):
    """A claim (or a subject of it) cannot run here; the message is the reason."""


class Failed(Exception):
    """A subject failed (wrong answer, crash); the claim gets an `error` verdict with this message."""


class NotJudged(Exception):
    """The measurements cannot support a verdict (e.g. timing methods differ); `inconclusive`."""


class OutsideLimits(Skip):
    """A case outside what an implementation declares it takes (kbench.registry.Implementation.limits):
    the case is skipped with the reason; the claim's other cases go on."""


class NotComparable(NotJudged):
    """Measurements that exist but cannot carry the claim (a time taken in an emulator, not on the
    hardware the kernel is written for): `skipped`, with the reason, never judged."""


class Impossible(NotJudged):
    """The measurements show something that cannot be (a rate above the device's copy bandwidth):
    an `error`, never a verdict, wherever the file is judged."""


@dataclass
class CaseValue:
    """One case's contribution to a claim's value: its estimate and what else it should show."""

    case: Mapping[str, Any]
    estimate: Estimate
    details: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    # the estimate under each other analysis choice the claim declares ("late=0.75" -> estimate): a
    # verdict that changes inside that neighbourhood is not firm (kbench.judging)
    alternatives: dict[str, Estimate] = field(default_factory=dict)
    # why this case can support no firm verdict whatever its interval says (e.g. tuning censored)
    blocks: list[str] = field(default_factory=list)
    # the claim's cases left out of its value (outside an implementation's limits), each with why
    left_out: list[str] = field(default_factory=list)


@dataclass
class Context:
    """Run-wide state shared by all claims: the device, budgets, caches and the progress line."""

    device: torch.device
    kernel_timing: TimingConfig
    model_timing: TimingConfig
    seed: int = 0
    budget: float = 1.0  # 1 = as the suite says; --quick scales seeds, steps and rounds down
    progress: Callable[[str], None] = lambda message: None
    cache: dict[tuple[Any, ...], Measurement] = field(default_factory=dict)
    recorded: list[Measurement] = field(default_factory=list)  # the claim in progress
    claim_id: str = ""
    peaks: dict[str, Any] = field(default_factory=dict)
    ceilings: dict[int, float] = field(default_factory=dict)  # bytes -> best copy GB/s at that size
    max_clock_mhz: object = None  # the GPU's maximum SM clock, to flag throttled measurements
    memo: dict[str, Any] = field(default_factory=dict)  # work several claims share (a law's training runs)
    cotenants: Callable[[], list[str]] = lambda: []  # other processes on the device (kbench.cotenancy)
    replicate: int | None = None  # the master seed of the replicate in progress (kbench.replicates)

    def seed_for(self, *parts: object) -> int:
        """A seed that differs per purpose and case but is reproducible from the run seed."""
        # A cryptographic digest, not a sum of characters: distinct purposes must not share a seed
        # (a weighted character sum made "init|16" and "init|80" collide).
        text = "|".join(map(str, (self.seed, *parts)))
        return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little") % (2**31)

    def scaled(self, n: int, minimum: int) -> int:
        """`n` (seeds, steps, rounds) scaled by the run's budget, never below `minimum`."""
        return max(minimum, math.ceil(n * self.budget)) if self.budget < 1 else n

    def record(self, m: Measurement, role: str) -> Measurement:
        """File `m` under the claim in progress with its role, and keep it even if the claim fails."""
        filed = replace(m, claim=self.claim_id, role=role, extra=dict(m.extra), replicate=self.replicate)
        self.recorded.append(filed)
        return filed


class Kind:
    """One claim kind. Subclasses set the class attributes and implement collect and evaluate."""

    name: str = ""
    description: str = ""
    sides: tuple[str, ...] = ("subject",)  # ("baseline", "candidate") for comparisons
    side_params: Mapping[str, Param] = {}
    case_params: Mapping[str, Param] = {}
    options: Mapping[str, Param] = {}
    combine: str = "geomean"  # geomean | mean | sampled-geomean | sampled-mean | worst | each
    unit: str = ""
    bounds: tuple[float, float] | None = None  # what the measured value can be (an accuracy difference: -1..1)
    needs_operation: bool = True  # the claim names an operation under kernels/
    needs_copy_bandwidth: bool = False  # the run measures the copy bandwidth when a claim needs it
    times_kernels: bool = False  # its sides are kernel timings (pytest-benchmark runs them as tests)
    cost_unit: float = 2.0  # rough seconds one case of one side takes on a GPU (balances shards only)
    # the kind trains or draws its own seeds: the runner runs it once per master seed (replicates)
    replicated: bool = False

    def cost(self, claim: Claim) -> float:
        """A rough, device-independent estimate of the claim's run time in seconds, from its GPU
        cases: shards are balanced on it, so it must be the same wherever a shard runs."""
        return self.cost_unit * len(claim.cases) * len(self.sides)

    def collect(self, claim: Claim, ctx: Context) -> None:
        raise NotImplementedError

    def evaluate(self, claim: Claim, case: Mapping[str, Any], measurements: Sequence[Mapping[str, Any]],
                 peaks: Mapping[str, Any]) -> list[CaseValue]:
        """This case's value(s) from its measurements (dicts as stored in a result file)."""
        raise NotImplementedError

    def across_cases(self, claim: Claim, values: Sequence[CaseValue]) -> Estimate | None:
        """The claim's value from all its cases at once, where it is not a combination of one value
        per case (a trend across cases); None: the cases combine as the claim says."""
        return None

    def check_references(self, claim: Claim, path: str, where: str) -> None:
        """Suite-level checks of names against the registry (implementations, model sizes)."""


def runnable(op: str, name: str, device: torch.device) -> registry.Implementation:
    """Implementation `name` of `op`, or Skip with the reason it cannot run on `device`."""
    impl = registry.implementation(op, name)
    reason = devices.unmet(impl.requires, device)
    if reason:
        raise Skip(f"{impl.name}: {reason}")
    return impl


def clock_state(ctx: Context) -> dict[str, Any]:
    """The SM clock right after a measurement, and whether it looked throttled."""
    clock = env.sm_clock_mhz(ctx.device)
    if clock is None:
        return {}
    return {"sm_clock_mhz": clock, "throttled": env.throttled(clock, ctx.max_clock_mhz)}


def case_key(case: Mapping[str, Any]) -> tuple[Any, ...]:
    return tuple(sorted((k, _hashable(v)) for k, v in case.items() if k not in ("label", "paper_value")))


def _hashable(v: Any) -> Any:
    if isinstance(v, list):
        return tuple(_hashable(x) for x in v)
    if isinstance(v, dict):
        return tuple(sorted((k, _hashable(x)) for k, x in v.items()))
    return v


def by_role(measurements: Sequence[Mapping[str, Any]], role: str, metric: str) -> Mapping[str, Any]:
    """The one measurement of `metric` for side `role` (NotJudged when it is missing or failed)."""
    found = [m for m in measurements if m.get("role") == role and m.get("metric") == metric]
    if not found:
        raise NotJudged(f"no {metric} measurement of the {role}")
    m = found[0]
    if m.get("status") != "ok" or not m.get("samples"):
        raise NotJudged(f"the {role}'s {metric} was not measured: {m.get('reason') or m.get('status')}")
    return m


def one_method(measurements: Sequence[Mapping[str, Any]]) -> str | None:
    """The timing method every timed measurement of a claim shares, or NotJudged naming them."""
    methods = {str((m.get("extra") or {}).get("timing")) for m in measurements
               if m.get("noise") == "timing" and m.get("status") == "ok"}
    if len(methods) > 1:
        raise NotJudged(f"its timings were taken by different methods ({', '.join(sorted(methods))}); a claim's "
                        "sides and cases must share one method to be compared")
    return next(iter(methods), None)


def refuse_emulated(*timings: Mapping[str, Any]) -> None:
    """NotComparable when any of these timings was taken in an emulation (kbench.devices.emulated)."""
    where = [f"{m['subject'].get('impl') or m['subject'].get('label')} ran in {m['extra']['emulated']}"
             for m in timings if (m.get("extra") or {}).get("emulated")]
    if where:
        raise NotComparable(f"timed in an emulation ({'; '.join(where)}): such a time says nothing about the "
                            "kernel's speed on the hardware it is written for")


def ratio_of_rounds(base: Mapping[str, Any], cand: Mapping[str, Any]) -> Estimate:
    """median(baseline) / median(candidate) per round: paired when the rounds were interleaved
    (same count), else a Welch interval over the two sets of round medians."""
    b = stats.group_medians(base["samples"], base.get("groups") or [0] * len(base["samples"]))
    c = stats.group_medians(cand["samples"], cand.get("groups") or [0] * len(cand["samples"]))
    if b.size == c.size:
        return stats.paired_log_ratio(b, c)
    return stats.unpaired_log_ratio(b, c)


def timing_ratio(case: Mapping[str, Any], measurements: Sequence[Mapping[str, Any]], metric: str) -> CaseValue:
    """A comparison of two timings (kernel calls, train steps): baseline time over candidate's."""
    method = one_method(measurements)
    base, cand = by_role(measurements, "baseline", metric), by_role(measurements, "candidate", metric)
    refuse_emulated(base, cand)
    details = {"baseline_ms": base["summary"]["median"], "candidate_ms": cand["summary"]["median"], "method": method}
    return CaseValue(case, ratio_of_rounds(base, cand), details)
