"""What every claim kind hands back to the runner, and the context it measures in."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from kbench import devices, env, registry
from kbench.results import Measurement
from kbench.suite import Claim
from kbench.timing import TimingConfig


class Skip(Exception):
    """A claim (or a subject of it) cannot run here; the message is the reason."""


class Failed(Exception):
    """A subject failed (wrong answer, crash); the claim gets an `error` verdict with this message."""


@dataclass
class CaseValue:
    """One case's contribution to a claim's measured value."""

    case: Mapping[str, Any]
    point: float  # e.g. median(baseline) / median(candidate)
    draws: np.ndarray  # bootstrap replicates of `point`


@dataclass
class ClaimData:
    measurements: list[Measurement] = field(default_factory=list)
    values: list[CaseValue] = field(default_factory=list)


@dataclass
class Context:
    """Run-wide state shared by all claims: the device, budgets, caches and the progress line."""

    device: torch.device
    kernel_timing: TimingConfig
    model_timing: TimingConfig
    seed: int = 0
    progress: Callable[[str], None] = lambda message: None
    cache: dict[tuple[Any, ...], Measurement] = field(default_factory=dict)
    peaks: dict[str, Any] = field(default_factory=dict)
    max_clock_mhz: object = None  # the GPU's maximum SM clock, to flag throttled measurements

    def seed_for(self, *parts: object) -> int:
        """A seed that differs per purpose and case but is reproducible from the run seed."""
        text = "|".join(map(str, parts))
        return (self.seed * 1_000_003 + sum((i + 1) * ord(c) for i, c in enumerate(text))) % (2**31)


Collector = Callable[[Claim, Context], ClaimData]


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


def for_claim(m: Measurement, claim: Claim) -> Measurement:
    """A copy of a (possibly cached, shared) measurement, filed under `claim`."""
    return Measurement(**{**m.__dict__, "claim": claim.id})


def case_key(case: Mapping[str, Any]) -> tuple[Any, ...]:
    return tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in case.items()))
