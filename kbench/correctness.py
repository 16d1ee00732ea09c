"""Correctness before speed: every implementation against the float64 reference.

Each check draws fresh random inputs (never zeros) from its own seed, runs forward and backward,
and compares the output and every gradient separately by ||out - ref64|| / ||ref64||. The errors
are kept, not only a pass/fail; NaN never passes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch

from kbench.registry import Implementation, Operation, OpInputs, implementation

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16, "float64": torch.float64}


@dataclass(frozen=True)
class Check:
    errors: dict[str, float]  # relative L2 error per output / gradient name
    tolerance: float

    @property
    def failures(self) -> list[str]:
        return [name for name, err in self.errors.items() if not err <= self.tolerance]

    @property
    def ok(self) -> bool:
        return not self.failures

    def describe(self) -> str:
        worst = ", ".join(f"{n} {self.errors[n]:.2e}" for n in self.failures)
        return f"wrong against float64: {worst} (tolerance {self.tolerance:.0e})"


def forward_backward(fn: Callable[..., torch.Tensor], op: Operation, inputs: OpInputs) -> dict[str, torch.Tensor]:
    """Output and gradients of one call, keyed by the operation's names."""
    y = fn(*inputs.args)
    leaves = [t for t in inputs.args if t.requires_grad]
    grads = torch.autograd.grad(y, leaves, inputs.grad_output)
    out = {op.output_name: y.detach()}
    out.update(zip(op.grad_names, (g.detach() for g in grads), strict=True))
    return out


def relative_error(value: torch.Tensor, ref: torch.Tensor) -> float:
    diff = (value.double() - ref).norm()
    scale = ref.norm()
    return float(diff / scale) if scale > 0 else float(diff)


def golden(op: Operation, case: Mapping[str, Any], device: torch.device, seed: int) -> dict[str, torch.Tensor]:
    """The reference in float64 on exactly the inputs the implementation gets (rounded to the
    case's dtype, then widened), so the error measures the implementation, not input rounding."""
    ref = implementation(op.name, op.reference)
    inputs = op.make_inputs(case, device, DTYPES[case.get("dtype", "float32")], seed)
    wide = OpInputs(args=tuple(t.detach().double().requires_grad_(t.requires_grad) for t in inputs.args),
                    grad_output=inputs.grad_output.double())
    return forward_backward(ref.fn, op, wide)


def check(op: Operation, impl: Implementation, case: Mapping[str, Any], device: torch.device, seed: int,
          gold: Mapping[str, torch.Tensor] | None = None) -> Check:
    """Compare `impl` with the float64 reference on the inputs of `seed` for `case`."""
    dtype_name = case.get("dtype", "float32")
    gold = gold if gold is not None else golden(op, case, device, seed)
    got = forward_backward(impl.fn, op, op.make_inputs(case, device, DTYPES[dtype_name], seed))
    errors = {name: relative_error(got[name], gold[name]) for name in gold}
    return Check(errors, op.tolerance[dtype_name])
