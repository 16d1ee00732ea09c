"""Model-level claim kinds: train-speedup, time-share, flops-ratio.

A train step is AdamW on synthetic images and random labels (nothing downloaded), under bf16
autocast on a GPU. Before any step is timed, the implementation a model plugs in is checked
against float64 at the model's layer widths with its inputs laid out as the model passes them,
and the whole model is checked against the same model built on the reference implementation
(logits and parameter gradients, float64 as the gold). Steps are timed in rounds (a fresh model,
optimizer and warm-up each), interleaved between the claim's sides; each round also measures
whether the host or the device set the pace.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from kbench import correctness, cotenancy, registry, stats, timing
from kbench.errors import SuiteError
from kbench.kinds.base import (
    CaseValue,
    ClaimLike,
    Context,
    Failed,
    Kind,
    NotJudged,
    Skip,
    by_role,
    case_key,
    clock_state,
    runnable,
    timing_ratio,
)
from kbench.params import Param
from kbench.results import Measurement
from kbench.stats import Estimate

MODEL_CASE: dict[str, Param] = {
    "size": Param(str, "a preset of the model family (e.g. tiny)", required=True),
    "batch": Param(int, "images per train step", default=1, low=1, high=65536),
    "arch": Param(dict, "architecture keywords on top of the preset (e.g. depth, embed_dim, img_size)"),
    "params": Param(int, "a parameter budget: each side's width is matched to it (the family's width keyword)",
                    low=10, high=10**12),
    "label": Param(str, "how tables name the case"),
    "paper_value": Param(float, "the paper's value for this case (its conditions)", low=-1e300),
}
MODEL_SIDE = {"model": Param(str, "a registered model family", required=True),
              "impl": Param(str, "the implementation of the family's pluggable operation"),
              "arch": Param(dict, "this side's own architecture keywords (over the case's)")}
MATCH_TOLERANCE = 0.1  # a width matched to a parameter budget lands within 10% of it, or the claim fails
MAX_WIDTH = 1 << 16


def params_of(family: registry.ModelFamily, size: str, arch: Mapping[str, Any]) -> int:
    with torch.device("meta"):
        model = family.create(size, None, arch)
    return sum(p.numel() for p in model.parameters())


def match_width(family: registry.ModelFamily, size: str, arch: dict[str, Any], budget: int,
                tolerance: float = MATCH_TOLERANCE) -> tuple[dict[str, Any], int]:
    """The width (in the family's steps) whose parameter count is closest to `budget`: counts grow
    with width, so a doubling search brackets it and a bisection finds it."""
    key, step = family.width_key, family.width_step
    if key is None:
        raise Failed(f"{family.name} declares no width to match a parameter budget with")

    def count(w: int) -> int:
        return params_of(family, size, {**arch, key: w * step})

    hi = 1
    while count(hi) < budget and hi < MAX_WIDTH:
        hi *= 2
    lo = 1
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if count(mid) < budget else (lo, mid)
    best = min((lo, hi), key=lambda w: abs(count(w) - budget))
    matched, params = {**arch, key: best * step}, count(best)
    if abs(params - budget) > tolerance * budget:
        raise Failed(f"{family.name}: the nearest width ({key} = {best * step}) has {params} parameters, more than "
                     f"{tolerance:.0%} from the budget {budget}")
    return matched, params


def resolve(subject: Any, case: Mapping[str, Any]) -> tuple[registry.ModelFamily, str, dict[str, Any]]:
    """A side's family, preset and architecture on a case: the preset's keywords, the case's, the
    side's own, then the width matched to the case's parameter budget if it sets one."""
    family = registry.model_family(cast(str, subject.model))
    arch = family.arch(case["size"], {**(case.get("arch") or {}), **(subject.fields.get("arch") or {})})
    if "params" in case:
        arch, _ = match_width(family, case["size"], arch, int(case["params"]))
    return family, case["size"], arch
STEPS = Param(int, "timed train steps per round (at least)", low=1, high=10000)
ROUNDS = Param(int, "independent rounds (fresh model, optimizer, warm-up)", low=1, high=100)
MODEL_CHECK_BATCH = 2
BYTES_PER_PARAMETER = 16  # float32 weights, gradients and AdamW's two moments
LARGEST_MEMORY = 192 * 2**30  # more than any one device this project runs on: `validate` refuses beyond it


def _family(subject: Any) -> registry.ModelFamily:
    return registry.model_family(cast(str, subject.model))


def _input_batch(family: registry.ModelFamily, arch: Mapping[str, Any], batch: int, device: torch.device,
                 seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator(device=device).manual_seed(seed)
    images = torch.randn((batch, *family.input_shape(arch)), generator=gen, device=device)
    labels = torch.randint(0, family.outputs(arch), (batch,), generator=gen, device=device)
    return images, labels


def _logits_and_grads(model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
    model.zero_grad(set_to_none=True)
    logits = model(images)
    F.cross_entropy(logits, labels).backward()  # type: ignore[no-untyped-call]
    grads = torch.cat([p.grad.reshape(-1) for p in model.parameters() if p.grad is not None])
    return {"logits": logits.detach(), "grads": grads.detach()}


def check_model(subject: Any, case: Mapping[str, Any], ctx: Context) -> list[dict[str, Any]]:
    """The plugged implementation at the model's widths and layouts, then the model built on it
    against the model built on the reference (same weights); Failed when either is wrong."""
    family = _family(subject)
    if family.plugs is None:
        return []
    _, size, arch = resolve(subject, case)
    impl = runnable(family.plugs, cast(str, subject.impl), ctx.device)
    op = registry.operation(family.plugs)
    summaries = []
    for plug in family.plug_cases(arch):
        ctx.progress(f"{subject.label}: checking {impl.name} at {plug['shape']} ({plug.get('layout', 'contiguous')})")
        try:
            seed = ctx.seed_for("plug", impl.name, case_key(plug))  # pragma: no mutate (any label)
            checks = correctness.check_all(op, impl, plug, ctx.device, seed)
        except correctness.UnsupportedInput as exc:
            raise Failed(f"{impl.name} inside {family.name}: {exc}") from None
        if not checks[-1].ok:
            raise Failed(f"{impl.name} inside {family.name}: {checks[-1].describe()}")
        summaries += [c.as_dict() for c in checks]
    summaries += _check_whole_model(family, size, arch, subject, op, ctx)
    timed = int(case.get("batch") or MODEL_CHECK_BATCH)
    if timed != MODEL_CHECK_BATCH:  # where the timing runs it: rows past every tile the small batch never reaches
        summaries += _check_whole_model(family, size, arch, subject, op, ctx, timed)
    return summaries


def check_model_after(subject: Any, case: Mapping[str, Any], ctx: Context) -> list[dict[str, Any]]:
    """The whole model at the timed batch again once the timing is over (fresh models, new
    inputs): an implementation that changes once timing starts is caught here."""
    family = _family(subject)
    if family.plugs is None:
        return []
    _, size, arch = resolve(subject, case)
    return _check_whole_model(family, size, arch, subject, registry.operation(family.plugs), ctx,
                              int(case.get("batch") or MODEL_CHECK_BATCH), "after")


def _check_whole_model(family: registry.ModelFamily, size: str, arch: Mapping[str, Any], subject: Any,
                       op: registry.Operation, ctx: Context, batch: int = MODEL_CHECK_BATCH,
                       when: str = "before") -> list[dict[str, Any]]:
    """The model on the plugged implementation against the reference model (same weights) in
    float64 at `batch`: logits and every gradient of a training step, then the logits in
    evaluation (eval(), no_grad), the path a test score reads."""
    ctx.progress(f"{subject.label}: checking the whole model at batch {batch} against the reference model in float64")
    seed = ctx.seed_for("model-check", subject.label, size, batch, when)  # pragma: no mutate (any label)
    torch.manual_seed(seed)
    ref = family.create(size, op.reference, arch).to(ctx.device).eval()
    plugged = family.create(size, subject.impl, arch).to(ctx.device).eval()
    plugged.load_state_dict(ref.state_dict())
    images, labels = _input_batch(family, arch, batch, ctx.device, seed)
    own = _logits_and_grads(ref, images, labels)
    got = _logits_and_grads(plugged, images, labels)
    with torch.no_grad():
        own["eval logits"] = ref(images)
        got["eval logits"] = plugged(images)
    gold = _logits_and_grads(ref.double(), images.double(), labels)  # ref is float64 from here on
    with torch.no_grad():
        gold["eval logits"] = ref(images.double())
    tokens = int(np.prod(family.input_shape(arch)[1:])) // int(arch.get("patch_size", 1)) ** 2
    terms = {"logits": 1, "eval logits": 1, "grads": batch * max(tokens, 1) * int(arch.get("embed_dim", 1))}
    outputs = {}
    for name in ("logits", "grads", "eval logits"):
        outputs[name] = correctness.model_output_error(got[name], own[name], gold[name], terms[name])
    chk = correctness.Check(f"the whole model at batch {batch} ({when} timing)", {"size": size, "arch": dict(arch)},
                            outputs)
    del ref, plugged
    if not chk.ok:
        raise Failed(f"{family.name}[{subject.impl}]: {chk.describe()}")
    return [chk.as_dict()]


def _model_stats(family: registry.ModelFamily, size: str, arch: Mapping[str, Any]) -> dict[str, int]:
    """Parameters and counted forward FLOPs of one image, on the meta device (no compute)."""
    ref = registry.operation(family.plugs).reference if family.plugs else None
    with torch.device("meta"):
        model = family.create(size, ref, arch)
    return {"params": sum(p.numel() for p in model.parameters()),
            "flops": count_flops(model, family.input_shape(arch))}


class _TrainStep:
    """A fresh model, optimizer and batch: one round of one side's train-step timing."""

    def __init__(self, subject: Any, case: Mapping[str, Any], ctx: Context, r: int) -> None:
        family, size, arch = resolve(subject, case)
        torch.manual_seed(ctx.seed_for("model", subject.label, case_key(case), r))  # pragma: no mutate
        self.model = family.create(size, subject.impl, arch).to(ctx.device).train()
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=1e-4)
        self.images, self.labels = _input_batch(family, arch, int(case["batch"]), ctx.device,
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


def measure_steps(claim: Any, sides: Sequence[tuple[str, Any]], case: Mapping[str, Any], ctx: Context
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


def _step_round(subject: Any, case: Mapping[str, Any], ctx: Context, r: int, config: timing.TimingConfig,
                method: str, acc: dict[str, list[float]]) -> None:
    """One round of one side's train steps (a fresh model), added to `acc`."""
    ctx.progress(f"{subject.label} {case_label(case)}: round {r + 1} of train steps")
    step = _TrainStep(subject, case, ctx, r)
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


def _step_measurement(subject: Any, case: Mapping[str, Any], acc: dict[str, list[float]], method: str,
                      checks: list[dict[str, Any]], ctx: Context) -> Measurement:
    family, size, arch = resolve(subject, case)
    summary = stats.summarize(acc["samples"], [int(g) for g in acc["groups"]])
    extra: dict[str, Any] = {"timing": method, "images_per_s": case["batch"] / (summary.median * 1e-3),
                             **_model_stats(family, size, arch), "arch": arch,
                             "checks_before": checks, **clock_state(ctx)}
    if acc["host"]:
        fraction = float(np.median(acc["host"]))
        extra.update({"host_fraction": fraction, "host_bound": fraction >= timing.HOST_BOUND})
    return Measurement(case=dict(case), subject=subject.as_dict(), metric="step_ms", unit="ms",
                       better="lower", noise="timing", samples=acc["samples"], groups=[int(g) for g in acc["groups"]],
                       summary=summary.as_dict(), extra=extra)


def case_label(case: Mapping[str, Any]) -> str:
    return str(case.get("label") or f"{case['size']} batch {case.get('batch', 1)}")


def _host_notes(measurements: Sequence[Mapping[str, Any]]) -> list[str]:
    return [f"{m['subject'].get('model')}[{m['subject'].get('impl') or ''}] is host-bound: the host needed "
            f"{m['extra']['host_fraction']:.0%} of the device's step time to issue a step, so this timing measures "
            "the launcher, not the device" for m in measurements if (m.get("extra") or {}).get("host_bound")]


class _ModelKind(Kind):
    side_params = MODEL_SIDE
    case_params = MODEL_CASE
    needs_operation = False

    def check_references(self, claim: Any, path: str, where: str) -> None:
        for role in self.sides:
            check_model_side(claim, role, path, f"{where}.{role}")


def check_side(subject: Any, path: str, where: str) -> registry.ModelFamily:
    """One side of a model claim: its family exists, takes an implementation exactly when it has
    a pluggable layer, and its size and architecture keywords are the family's, each value read
    through the family's declared Param (type, bounds, choices)."""
    from kbench.suite import check_impl

    families = registry.model_families()
    if subject.model not in families:
        raise SuiteError(path, f"{where}.model", f"a model family ({', '.join(sorted(families))})", subject.model)
    family = families[subject.model]
    if family.plugs is None and subject.impl is not None:
        raise SuiteError(path, f"{where}.impl", f"no impl: model family {family.name!r} has no pluggable layer")
    if family.plugs is not None:
        if subject.impl is None:
            raise SuiteError(path, f"{where}.impl", f"the implementation of {family.plugs!r} that {family.name!r} uses")
        check_impl(path, f"{where}.impl", family.plugs, subject.impl)
    size = subject.fields.get("size")
    if size is not None and size not in family.presets:
        raise SuiteError(path, f"{where}.size", f"a size of {family.name} ({', '.join(family.sizes)})", size)
    check_arch(family, subject.fields.get("arch") or {}, path, f"{where}.arch")
    return family


def check_arch(family: registry.ModelFamily, arch: Mapping[str, Any], path: str, where: str) -> None:
    for name, value in arch.items():
        param = family.arch_keys.get(name)
        if param is None:
            raise SuiteError(path, f"{where}.{name}",
                             f"an architecture keyword of {family.name} ({', '.join(family.arch_keys)})")
        param.read(value, path, f"{where}.{name}")


def check_model_side(claim: Any, role: str, path: str, where: str) -> None:
    """The side (check_side), and every case's size and architecture keywords for its family."""
    family = check_side(claim.side(role), path, where)
    for key, cases in (("cases", claim.cases), ("cpu_cases", claim.cpu_cases or ())):
        for i, case in enumerate(cases):
            loc = f"{where.rsplit('.', 1)[0]}.{key}[{i}]"
            if "params" in case and family.width_key is None:
                raise SuiteError(path, f"{loc}.params", f"no parameter budget: {family.name} has no width to match")
            if case["size"] not in family.presets:
                raise SuiteError(path, f"{loc}.size", f"a size of {family.name} ({', '.join(family.sizes)})",
                                 case["size"])
            check_arch(family, case.get("arch") or {}, path, f"{loc}.arch")
            try:
                _, size, arch = resolve(claim.side(role), case)
            except Failed:
                continue  # a budget no width meets: the run says so with the widths tried
            check_trainable(params_of(family, size, arch), path, where)


def check_trainable(params: int, path: str, where: str) -> None:
    """Refused when `validate` runs, not hours into a run: a model no device kbench knows could train."""
    if params * BYTES_PER_PARAMETER > LARGEST_MEMORY // 2:
        raise SuiteError(path, where, f"a model that half of the largest device memory kbench knows "
                         f"({LARGEST_MEMORY / 2**30:.0f} GiB) can train",
                         f"{params} parameters ({params * BYTES_PER_PARAMETER / 2**30:.0f} GiB with AdamW)")


class TrainSpeedup(_ModelKind):
    name = "train-speedup"
    cost_unit = 30.0
    description = "train-step time of baseline / of candidate (images/s of candidate / of baseline)"
    sides = ("baseline", "candidate")
    options = {"steps": STEPS, "rounds": ROUNDS}
    unit = "x"

    def collect(self, claim: Any, ctx: Context) -> None:
        for case in claim.cases_for(ctx.device.type):
            measure_steps(claim, [("baseline", claim.side("baseline")), ("candidate", claim.side("candidate"))],
                          case, ctx)

    def evaluate(self, claim: ClaimLike, case: Mapping[str, Any], measurements: Sequence[Mapping[str, Any]],
                 peaks: Mapping[str, Any]) -> list[CaseValue]:
        value = timing_ratio(case, measurements, "step_ms")
        value.notes = _host_notes([m for m in measurements if m.get("metric") == "step_ms"])
        return [value]


def _kernel_share(step: Callable[[], object], pattern: re.Pattern[str]) -> float:  # pragma: no mutate block
    """Share of one step's device kernel time spent in kernels whose name matches `pattern`."""
    from torch.autograd import DeviceType  # type: ignore[attr-defined]
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        step()
        torch.cuda.synchronize()
    total = matched = 0.0
    for event in prof.events():
        if event.device_type != DeviceType.CUDA:
            continue
        elapsed = float(event.time_range.elapsed_us())
        total += elapsed
        if pattern.search(event.name):
            matched += elapsed
    if total <= 0:
        raise Failed("the profiler recorded no device kernels")
    return matched / total


class TimeShare(_ModelKind):
    name = "time-share"
    cost_unit = 30.0
    description = "share of a train step's device time spent in kernels whose name matches"
    options = {"kernel_pattern": Param(str, "regular expression over kernel names", default="."),
               "steps": Param(int, "profiled train steps per round", default=3, low=1, high=1000),
               "rounds": ROUNDS}
    combine = "worst"
    unit = "share"

    def check_references(self, claim: Any, path: str, where: str) -> None:
        super().check_references(claim, path, where)
        pattern = str(claim.options.get("kernel_pattern", "."))
        try:
            re.compile(pattern)
        except re.error as exc:
            raise SuiteError(path, f"{where}.options.kernel_pattern", f"a regular expression ({exc})",
                             pattern) from None

    def collect(self, claim: Any, ctx: Context) -> None:  # pragma: no mutate block (GPU only)
        if ctx.device.type != "cuda":
            raise Skip("kernel time shares are read from the CUDA profiler; this run is on the CPU")
        pattern = re.compile(str(claim.options.get("kernel_pattern", ".")))
        steps = ctx.scaled(int(claim.options.get("steps", 3)), 1)
        rounds = ctx.scaled(int(claim.options.get("rounds", ctx.model_timing.rounds)), 2)
        subject = claim.side("subject")
        for case in claim.cases_for(ctx.device.type):
            checks = check_model(subject, case, ctx)
            shares: list[float] = []
            groups: list[int] = []
            for r in range(rounds):  # each round a fresh model and warm-up: the share's run-to-run spread
                step = _TrainStep(subject, case, ctx, r)
                for _ in range(2):  # warm-up: compilation and allocator growth stay out
                    step()
                ctx.progress(f"{subject.label} {case_label(case)}: round {r + 1}/{rounds}, profiling {steps} steps")
                shares += [_kernel_share(step, pattern) for _ in range(steps)]
                groups += [r] * steps
                del step
            if not any(s > 0 for s in shares):
                raise Failed(f"no device kernel matched {pattern.pattern!r}; is the pattern right?")
            ctx.record(Measurement(case=dict(case), subject=subject.as_dict(), metric="share",
                                   unit="share", better="none", noise="timing", samples=shares,
                                   groups=groups, summary=stats.summarize(shares, groups).as_dict(),
                                   extra={"kernel_pattern": pattern.pattern, "checks_before": checks}), "subject")

    def evaluate(self, claim: ClaimLike, case: Mapping[str, Any], measurements: Sequence[Mapping[str, Any]],
                 peaks: Mapping[str, Any]) -> list[CaseValue]:
        """A t interval over the rounds' median shares (one round: a value, no interval)."""
        m = by_role(measurements, "subject", "share")
        groups = m.get("groups") or [0] * len(m["samples"])
        per_round = stats.group_medians(m["samples"], groups)
        return [CaseValue(case, Estimate.from_values(per_round, "linear"),
                          {"rounds": int(per_round.size), "steps": len(m["samples"])})]


def count_flops(model: torch.nn.Module, input_shape: Sequence[int] = (3, 224, 224)) -> int:
    """Forward FLOPs for one input: torch's FlopCounterMode (matmuls, attention as explicit matmuls)
    plus what modules with a `counted_flops(x)` method report for themselves (custom kernels that
    the counter cannot see). Other elementwise work is not counted, as in fvcore and KAT's tool."""
    extra = [0]

    def hook(module: torch.nn.Module, args: tuple[torch.Tensor, ...], out: object) -> None:
        extra[0] += int(module.counted_flops(args[0]))  # type: ignore[operator]

    handles = [m.register_forward_hook(hook) for m in model.modules() if hasattr(m, "counted_flops")]
    for m in model.modules():
        if hasattr(m, "fused_attn"):  # timm attention: unfused, so its matmuls are counted
            setattr(m, "fused_attn", False)  # noqa: B010  (Module's typing forbids a plain bool)
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(torch.randn(1, *input_shape, device="meta"))
    finally:
        for h in handles:
            h.remove()
    return int(counter.get_total_flops()) + extra[0]


def _branch_variance_ratios(model: torch.nn.Module, images: torch.Tensor) -> list[float]:
    """Var(output) / Var(input) of every transformer block's MLP branch (its two GR-KAN layers),
    at initialisation, on one batch."""
    ratios: list[float] = []

    def hook(module: torch.nn.Module, args: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        ratios.append(float(out.double().var() / args[0].double().var()))

    handles = [m.register_forward_hook(hook) for name, m in model.named_modules() if name.endswith(".mlp")]
    try:
        with torch.no_grad():
            model(images)
    finally:
        for h in handles:
            h.remove()
    if not ratios:
        raise Failed("the model has no blocks with an 'mlp' branch to measure")
    return ratios


class VarianceRatio(_ModelKind):
    name = "variance-ratio"
    replicated = True
    cost_unit = 5.0
    description = "at initialisation, the MLP branch's output variance over its input variance, in the worst block"
    options = {"seeds": Param(int, "models initialised (one batch each)", default=5, low=2, high=1000)}
    combine = "each"
    unit = "variance ratio"

    def collect(self, claim: Any, ctx: Context) -> None:
        subject = claim.side("subject")
        seeds = ctx.scaled(int(claim.options["seeds"]), 2)
        for case in claim.cases_for(ctx.device.type):
            family, size, arch = resolve(subject, case)
            worst, per_block = [], []
            for seed in range(seeds):
                ctx.progress(f"{subject.label}: initialisation {seed + 1}/{seeds}")
                torch.manual_seed(ctx.seed_for("init", seed))  # the run's --seed draws other models
                model = family.create(size, subject.impl, arch).to(ctx.device)
                images, _ = _input_batch(family, arch, int(case["batch"]), ctx.device,
                                         ctx.seed_for("batch", seed))  # pragma: no mutate (any label)
                ratios = _branch_variance_ratios(model, images)
                per_block.append(ratios)
                worst.append(max(ratios, key=lambda r: abs(math.log(r))))  # the furthest from 1 either way
            ctx.record(Measurement(case=dict(case), subject=subject.as_dict(), metric="variance_ratio",
                                   unit="ratio", better="none", noise="seeds", samples=worst,
                                   groups=list(range(seeds)), summary=stats.summarize(worst).as_dict(),
                                   extra={"per_block": per_block, "arch": arch}, device_independent=True), "subject")

    def evaluate(self, claim: ClaimLike, case: Mapping[str, Any], measurements: Sequence[Mapping[str, Any]],
                 peaks: Mapping[str, Any]) -> list[CaseValue]:
        m = by_role(measurements, "subject", "variance_ratio")
        if min(m["samples"]) <= 0:
            raise NotJudged("a variance of zero")
        return [CaseValue(case, Estimate.from_values(m["samples"], "log"), {"seeds": len(m["samples"])})]


class FlopsRatio(_ModelKind):
    name = "flops-ratio"
    cost_unit = 1.0
    description = "counted forward FLOPs of baseline / of candidate, one input"
    sides = ("baseline", "candidate")
    combine = "each"
    unit = "x"

    def collect(self, claim: Any, ctx: Context) -> None:
        for case in claim.cases_for(ctx.device.type):
            for role in self.sides:
                subject = claim.side(role)
                counts = _model_stats(*resolve(subject, case))
                ctx.record(Measurement(case=dict(case), subject=subject.as_dict(), metric="flops",
                                       unit="FLOPs", better="none", noise="exact", samples=[float(counts["flops"])],
                                       summary=stats.summarize([counts["flops"]]).as_dict(),
                                       extra={"params": counts["params"]}, device_independent=True), role)

    def evaluate(self, claim: ClaimLike, case: Mapping[str, Any], measurements: Sequence[Mapping[str, Any]],
                 peaks: Mapping[str, Any]) -> list[CaseValue]:
        base, cand = by_role(measurements, "baseline", "flops"), by_role(measurements, "candidate", "flops")
        if cand["samples"][0] <= 0:
            raise NotJudged("the candidate counted zero FLOPs")
        ratio = base["samples"][0] / cand["samples"][0]
        return [CaseValue(case, Estimate.exact(ratio), {"baseline_flops": base["samples"][0],
                                                        "candidate_flops": cand["samples"][0]})]
