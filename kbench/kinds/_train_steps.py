"""Train-step timing for the model kinds: each side checked first, then timed in rounds (a fresh
model, AdamW and batch each, under bf16 autocast on a GPU) interleaved between the claim's sides,
checked again after timing; whether the host or the device set the pace is measured per round.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from kbench import cotenancy, devices, registry, stats, timing
from kbench.claims import Claim, Subject
from kbench.kinds._model_building import (
    architecture,
    check_model,
    check_model_after,
    input_batch,
    model_stats,
)
from kbench.kinds.base import (
    Context,
    Failed,
    case_key,
    clock_state,
)
from kbench.results import Measurement


class TrainStep:
    """A fresh model, optimizer and batch: one round of one side's train-step timing."""

    def __init__(self, subject: Subject, case: Mapping[str, Any], ctx: Context, r: int) -> None:
        family, size, arch = architecture(subject, case)
        torch.manual_seed(ctx.seed_for("model", subject.label, case_key(case), r))  # pragma: no mutate
        self.model = family.create(size, subject.impl, arch).to(ctx.device).train()
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=1e-4)
        self.images, self.labels = input_batch(family, arch, int(case["batch"]), ctx.device,
                                                ctx.seed_for("batch", case_key(case), r))  # pragma: no mutate
        self.amp = ctx.device.type == "cuda"
        self.device_type = ctx.device.type
        self.loss = torch.zeros(())
        self.slots = 1
        self.label = subject.label

    def prepare(self, i: int) -> None:
        pass  # every step trains on: the weights change, so no step repeats an earlier one

    def given(self) -> None:
        return None

    def __call__(self) -> dict[str, torch.Tensor]:
        self.opt.zero_grad(set_to_none=True)
        with torch.autocast(self.device_type, dtype=torch.bfloat16, enabled=self.amp):
            loss = F.cross_entropy(self.model(self.images), self.labels)
        loss.backward()  # type: ignore[no-untyped-call]
        self.opt.step()
        self.loss = loss.detach()
        return {}


def measure_steps(claim: Claim, sides: Sequence[tuple[str, Any]], case: Mapping[str, Any], ctx: Context
                  ) -> list[Measurement]:
    """Train-step samples (ms) of every side, rounds interleaved; shared timings reused."""
    rounds = ctx.scaled(int(claim.options.get("rounds", ctx.model_timing.rounds)), 2)
    config = ctx.model_timing
    if "steps" in claim.options:
        config = timing.TimingConfig(**{**config.__dict__, "min_reps": ctx.scaled(int(claim.options["steps"]), 2)})
    found: dict[str, Measurement] = {}
    pending: list[tuple[str, tuple[Any, ...], Any, list[dict[str, Any]], dict[str, list[float]]]] = []
    for role, subject in sides:
        key = ("step", subject.model, subject.impl, case_key(subject.fields), case_key(case), rounds, config.min_reps)
        if key in ctx.cache:
            found[role] = ctx.record(ctx.cache[key], role)
        else:
            checks = check_model(subject, case, ctx)
            pending.append((role, key, subject, checks, {"samples": [], "groups": [], "host": []}))
    method = "cuda-events" if ctx.device.type == "cuda" else "perf-counter"
    company = ctx.cotenants()  # before the case is timed, and again after
    try:
        for r in range(rounds):
            for _, _, subject, _, acc in pending:
                _step_round(subject, case, ctx, r, config, method, acc)
    except KeyboardInterrupt:  # keep the rounds already taken, marked, then stop
        for role, _, subject, checks, acc in pending:
            if acc["samples"]:
                m = _step_measurement(subject, case, acc, method, checks, ctx)
                m.status, m.reason = "skipped", f"interrupted after {len(set(acc['groups']))} round(s)"
                ctx.record(m, role)
        raise
    company += ctx.cotenants()
    for role, key, subject, checks, acc in pending:
        m = _step_measurement(subject, case, acc, method, checks, ctx)
        m.extra["checks_after"] = check_model_after(subject, case, ctx)
        cotenancy.mark(m, company)
        ctx.cache[key] = m
        found[role] = ctx.record(m, role)
    return [found[role] for role, _ in sides]


def _step_round(subject: Subject, case: Mapping[str, Any], ctx: Context, r: int, config: timing.TimingConfig,
                method: str, acc: dict[str, list[float]]) -> None:
    """One round of one side's train steps (a fresh model), added to `acc`."""
    ctx.progress(f"{subject.label} {case_label(case)}: round {r + 1} of train steps")
    step = TrainStep(subject, case, ctx, r)
    try:
        taken = (timing.cuda_events_round(step, config, ctx.device) if method == "cuda-events"
                 else timing.cpu_round(step, config))
    except timing.Tampered as exc:
        raise Failed(f"{subject.label} {case_label(case)}, round {r + 1}: {exc}") from None
    loss = float(step.loss)
    if not math.isfinite(loss):
        raise Failed(f"{subject.label}: the training loss became {loss} while timing")
    acc["samples"] += taken.samples.tolist()
    acc["groups"] += [r] * taken.samples.size
    if "host_fraction" in taken.extra:
        acc["host"].append(taken.extra["host_fraction"])


def _step_measurement(subject: Subject, case: Mapping[str, Any], acc: dict[str, list[float]], method: str,
                      checks: list[dict[str, Any]], ctx: Context) -> Measurement:
    family, size, arch = architecture(subject, case)
    summary = stats.summarize(acc["samples"], [int(g) for g in acc["groups"]])
    extra: dict[str, Any] = {"timing": method, "images_per_s": case["batch"] / (summary.median * 1e-3),
                             **model_stats(family, size, arch), "arch": arch,
                             "checks_before": checks, **clock_state(ctx)}
    if family.plugs and subject.impl:  # a plugged kernel in an emulator: no speed verdict from these steps
        emulated = devices.emulated(registry.implementation(family.plugs, subject.impl).requires)
        if emulated:
            extra["emulated"] = emulated
    if acc["host"]:
        fraction = float(np.median(acc["host"]))
        extra.update({"host_fraction": fraction, "host_bound": fraction >= timing.HOST_BOUND})
    return Measurement(case=dict(case), subject=subject.as_dict(), metric="step_ms", unit="ms",
                       better="lower", noise="timing", samples=acc["samples"], groups=[int(g) for g in acc["groups"]],
                       summary=summary.as_dict(), extra=extra)


def case_label(case: Mapping[str, Any]) -> str:
    return str(case.get("label") or f"{case['size']} batch {case.get('batch', 1)}")
