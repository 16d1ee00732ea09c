"""The model kinds' shared toolkit: a side's family, preset and architecture on a case (its width
matched to a parameter budget), its parameters and FLOPs, the checks that a suite's model side can
be built and trained, and the checks of a built model against the same model on the reference
implementation (float64 as the gold) before and after it is timed or trained.
"""

from __future__ import annotations

import bisect
import functools
from collections.abc import Mapping, Sequence
from typing import Any, cast

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from kbench import correctness, data, registry
from kbench.claims import Claim, Subject
from kbench.errors import SuiteError
from kbench.kinds.base import (
    Context,
    Failed,
    case_key,
    runnable,
)

MATCH_TOLERANCE = 0.1  # a width matched to a parameter budget lands within 10% of it, or the claim fails


MAX_WIDTH = 1 << 16  # in width steps: the widest a parameter budget is matched with


def params_of(family: registry.ModelFamily, size: str, arch: Mapping[str, Any]) -> int:
    with torch.device("meta"):
        model = family.create(size, None, arch)
    return sum(p.numel() for p in model.parameters())


def match_width(family: registry.ModelFamily, size: str, arch: dict[str, Any], budget: int,
                tolerance: float = MATCH_TOLERANCE) -> tuple[dict[str, Any], int]:
    """The width (in the family's steps) whose parameter count is closest to `budget`: counts grow
    with width, so a bisection over the widths (bisect, each count a model built on no memory)
    finds the first that reaches the budget, and the nearer of it and the one below is taken."""
    key, step = family.width_key, family.width_step
    if key is None:
        raise Failed(f"{family.name} declares no width to match a parameter budget with")

    @functools.cache
    def count(w: int) -> int:
        return params_of(family, size, {**arch, key: w * step})

    widths = range(1, MAX_WIDTH + 1)
    first = bisect.bisect_left(widths, budget, key=count)  # len(widths) when even the widest falls short
    best = min(widths[max(first - 1, 0):first + 1], key=lambda w: abs(count(w) - budget))
    matched, params = {**arch, key: best * step}, count(best)
    if abs(params - budget) > tolerance * budget:
        raise Failed(f"{family.name}: the nearest width ({key} = {best * step}) has {params} parameters, more than "
                     f"{tolerance:.0%} from the budget {budget}")
    return matched, params


def architecture(subject: Subject, case: Mapping[str, Any], task: data.Task | None = None,
                 tolerance: float = MATCH_TOLERANCE) -> tuple[registry.ModelFamily, str, dict[str, Any]]:
    """A side's family, preset and architecture on a case, in one order for every kind: the preset
    (the side's `size`, else the case's, else the family's first) and its keywords, the case's
    architecture keywords, the side's own; the task's inputs and outputs when there is a task; then
    the width matched to the case's parameter budget (`params`) when it sets one."""
    family = registry.model_family(cast(str, subject.model))
    size = str(subject.fields.get("size") or case.get("size") or family.sizes[0])
    arch = family.arch(size, {**(case.get("arch") or {}), **(subject.fields.get("arch") or {})})
    if task is not None:
        arch = family.for_task(arch, task.input_shape, task.num_classes)
    if "params" in case:
        arch, _ = match_width(family, size, arch, int(case["params"]), tolerance)
    return family, size, arch


MODEL_CHECK_BATCH = 2


BYTES_PER_PARAMETER = 16  # float32 weights, gradients and AdamW's two moments


LARGEST_MEMORY = 192 * 2**30  # more than any one device this project runs on: `validate` refuses beyond it


def family_of(subject: Subject) -> registry.ModelFamily:
    return registry.model_family(cast(str, subject.model))


def input_batch(family: registry.ModelFamily, arch: Mapping[str, Any], batch: int, device: torch.device,
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


def check_model(subject: Subject, case: Mapping[str, Any], ctx: Context) -> list[dict[str, Any]]:
    """The plugged implementation at the model's widths and layouts, then the model built on it
    against the model built on the reference (same weights); Failed when either is wrong."""
    family = family_of(subject)
    if family.plugs is None:
        return []
    _, size, arch = architecture(subject, case)
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


def check_model_after(subject: Subject, case: Mapping[str, Any], ctx: Context) -> list[dict[str, Any]]:
    """The whole model at the timed batch again once the timing is over (fresh models, new
    inputs): an implementation that changes once timing starts is caught here."""
    family = family_of(subject)
    if family.plugs is None:
        return []
    _, size, arch = architecture(subject, case)
    return _check_whole_model(family, size, arch, subject, registry.operation(family.plugs), ctx,
                              int(case.get("batch") or MODEL_CHECK_BATCH), "after")


def _check_whole_model(family: registry.ModelFamily, size: str, arch: Mapping[str, Any], subject: Subject,
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
    images, labels = input_batch(family, arch, batch, ctx.device, seed)
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


def model_stats(family: registry.ModelFamily, size: str, arch: Mapping[str, Any]) -> dict[str, int]:
    """Parameters and counted forward FLOPs of one image, on the meta device (no compute)."""
    ref = registry.operation(family.plugs).reference if family.plugs else None
    with torch.device("meta"):
        model = family.create(size, ref, arch)
    return {"params": sum(p.numel() for p in model.parameters()),
            "flops": count_flops(model, family.input_shape(arch))}


def check_side(subject: Subject, path: str, where: str) -> registry.ModelFamily:
    """One side of a model claim: its family exists, takes an implementation exactly when it has
    a pluggable layer, and its size and architecture keywords are the family's, each value read
    through the family's declared Param (type, bounds, choices)."""
    families = registry.model_families()
    if subject.model not in families:
        raise SuiteError(path, f"{where}.model", f"a model family ({', '.join(sorted(families))})", subject.model)
    family = families[subject.model]
    if family.plugs is None and subject.impl is not None:
        raise SuiteError(path, f"{where}.impl", f"no impl: model family {family.name!r} has no pluggable layer")
    if family.plugs is not None:
        if subject.impl is None:
            raise SuiteError(path, f"{where}.impl", f"the implementation of {family.plugs!r} that {family.name!r} uses")
        registry.check_impl(path, f"{where}.impl", family.plugs, subject.impl)
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


def check_model_side(claim: Claim, role: str, path: str, where: str) -> None:
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
                _, size, arch = architecture(claim.side(role), case)
            except Failed:
                continue  # a budget no width meets: the run says so with the widths tried
            check_trainable(params_of(family, size, arch), path, where)


def check_trainable(params: int, path: str, where: str) -> None:
    """Refused when `validate` runs, not hours into a run: a model no device kbench knows could train."""
    if params * BYTES_PER_PARAMETER > LARGEST_MEMORY // 2:
        raise SuiteError(path, where, f"a model that half of the largest device memory kbench knows "
                         f"({LARGEST_MEMORY / 2**30:.0f} GiB) can train",
                         f"{params} parameters ({params * BYTES_PER_PARAMETER / 2**30:.0f} GiB with AdamW)")


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
