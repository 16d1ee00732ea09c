"""Correctness before speed: every implementation against the float64 reference.

Each check draws fresh random inputs from its own seed, runs forward and backward, and compares
the output and every gradient with the reference computed in float64 on the same (rounded)
inputs. Two criteria per output, both must hold:

- norm: ||got - gold|| / ||gold||, which sees errors spread over the tensor;
- max:  max |got - gold| / max |gold|, which sees a single wrong element (an error in one element
  of 30 million vanishes in a norm).

Tolerances are derived, not typed in: the reference itself is evaluated at the case's dtype on
the same inputs, and its own errors under both criteria are the unit. An implementation may be
`FACTOR` times worse than the larger of that and the rounding any order of summation may add
(u * sqrt(n) for an output that sums n terms: fp32 sums in another order differ by about
sqrt(n) roundings, the random-walk model; u alone for an element-wise output, so an exact
reference, e.g. y = 2x, still allows one rounding). An output of another dtype or shape than the
reference's fails. The errors and tolerances are stored with every measurement; NaN never passes.

Each implementation is checked on the case as it will be timed and on the operation's variants
of it (awkward row counts, other memory layouts, exact zeros: `Operation.check_variants`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch

from kbench.registry import Implementation, Operation, OpInputs, implementation

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16, "float64": torch.float64}
FACTOR = 8.0  # how many times the reference's own rounding an implementation may be off


def unit_roundoff(dtype: torch.dtype) -> float:
    """One rounding's largest relative error in `dtype` (half its machine epsilon: 2^-24 for
    float32); 0 for an exact (integer) dtype, whose outputs must then match exactly."""
    return torch.finfo(dtype).eps / 2 if dtype.is_floating_point else 0.0


@dataclass(frozen=True)
class OutputError:
    """One output's errors against float64 and the tolerances they are held to."""

    norm: float
    max: float
    norm_tol: float
    max_tol: float

    @property
    def ok(self) -> bool:
        return self.norm <= self.norm_tol and self.max <= self.max_tol  # False for NaN

    def as_dict(self) -> dict[str, float]:
        return {"norm": self.norm, "max": self.max, "norm_tol": self.norm_tol, "max_tol": self.max_tol}


@dataclass(frozen=True)
class Check:
    variant: str  # "as timed", or the variant's name
    case: Mapping[str, Any]
    outputs: dict[str, OutputError]

    @property
    def errors(self) -> dict[str, float]:
        """The relative L2 error per output (what error claims measure)."""
        return {name: e.norm for name, e in self.outputs.items()}

    @property
    def failures(self) -> list[str]:
        return [name for name, e in self.outputs.items() if not e.ok]

    @property
    def ok(self) -> bool:
        return not self.failures

    def describe(self) -> str:
        worst = "; ".join(f"{n}: norm {e.norm:.2e} (tol {e.norm_tol:.1e}), max {e.max:.2e} (tol {e.max_tol:.1e})"
                          for n, e in self.outputs.items() if not e.ok)
        return f"wrong against float64 on {self.variant} {_label(self.case)}: {worst}"

    def as_dict(self) -> dict[str, Any]:
        return {"variant": self.variant, "case": dict(self.case),
                "outputs": {n: e.as_dict() for n, e in self.outputs.items()}}


def _label(case: Mapping[str, Any]) -> str:
    shape = "x".join(map(str, case.get("shape", [])))
    layout = case.get("layout")
    return f"{shape} {case.get('dtype', 'float32')}" + (f" ({layout})" if layout else "")


def forward_backward(fn: Callable[..., torch.Tensor], op: Operation, inputs: OpInputs) -> dict[str, torch.Tensor]:
    """Output and gradients of one call, keyed by the operation's names."""
    y = inputs.call(fn)
    leaves = [t for t in inputs.args if t.requires_grad]
    out = {op.output_name: y.detach()}
    if not leaves:  # a forward-only operation (no gradients to check)
        return out
    grads = torch.autograd.grad(y, leaves, inputs.grad_output)
    out.update(zip(op.grad_names, (g.detach() for g in grads), strict=True))
    return out


def relative_error(value: torch.Tensor, ref: torch.Tensor) -> float:
    diff = (value.double() - ref).norm()
    scale = ref.norm()
    return float(diff / scale) if scale > 0 else float(diff)


def max_error(value: torch.Tensor, ref: torch.Tensor) -> float:
    """Largest element-wise deviation, in units of the reference's largest magnitude."""
    if value.shape != ref.shape:
        return math.inf
    diff = float((value.double() - ref).abs().max())
    scale = float(ref.abs().max())
    return diff / scale if scale > 0 else diff


def widened(inputs: OpInputs) -> OpInputs:
    """The same inputs in float64 (rounded values, widened exactly), contiguous, as new leaves."""
    return OpInputs(args=tuple(t.detach().double().requires_grad_(t.requires_grad) for t in inputs.args),
                    grad_output=None if inputs.grad_output is None else inputs.grad_output.double(),
                    options=inputs.options)


@dataclass
class Golden:
    """The float64 answer for one set of inputs, the dtype each output must have, and the
    tolerances an implementation is held to."""

    gold: dict[str, torch.Tensor]
    tolerance: dict[str, tuple[float, float]]  # output -> (norm tolerance, max tolerance)
    dtypes: dict[str, torch.dtype]  # output -> the dtype the reference returns at the case's dtype

    def compare(self, got: Mapping[str, torch.Tensor]) -> dict[str, OutputError]:
        """Errors of the outputs in `got` (a timing's outputs may be a subset of the gold's)."""
        out = {}
        for name, value in got.items():
            ref = self.gold[name]
            if not isinstance(value, torch.Tensor) or value.shape != ref.shape or value.dtype != self.dtypes[name]:
                out[name] = OutputError(math.inf, math.inf, *self.tolerance[name])
            else:
                out[name] = OutputError(relative_error(value, ref), max_error(value, ref), *self.tolerance[name])
        return out


def reference_outputs(op: Operation, inputs: OpInputs) -> dict[str, torch.Tensor]:
    """The reference's outputs in float64 on `inputs` (rounded values widened)."""
    return forward_backward(implementation(op.name, op.reference).fn, op, widened(inputs))


def golden_for(op: Operation, case: Mapping[str, Any], inputs: OpInputs) -> Golden:
    """The reference in float64 on `inputs` (rounded values widened), and tolerances from the
    reference's own errors at the inputs' dtype on the same values."""
    gold = reference_outputs(op, inputs)
    own = forward_backward(implementation(op.name, op.reference).fn, op, inputs)
    terms = op.reduction_terms(case) if op.reduction_terms is not None else {}
    tolerance = {}
    for name, g in gold.items():
        unit = unit_roundoff(own[name].dtype) * math.sqrt(max(1, terms.get(name, 1)))
        tolerance[name] = (FACTOR * max(relative_error(own[name], g), unit),
                           FACTOR * max(max_error(own[name], g), unit))
    return Golden(gold, tolerance, {name: t.dtype for name, t in own.items()})


def model_tolerance(own_norm: float, own_max: float, terms: int) -> tuple[float, float]:
    """(norm, max) tolerances of a whole model's output that sums `terms` float32 roundings: the
    reference model's own float32 errors (at least one unit roundoff) grown by sqrt(terms), the
    random walk of independent roundings, not by terms (which would pass almost anything)."""
    grow = FACTOR * math.sqrt(max(1, terms))
    unit = unit_roundoff(torch.float32)
    return grow * max(own_norm, unit), grow * max(own_max, unit)


EDGE = "edge of range"  # a variant whose data argument is scaled to the operation's input_range


def inputs_for(op: Operation, case: Mapping[str, Any], device: torch.device, seed: int) -> OpInputs:
    """The operation's inputs for (case, seed); for the edge-of-range variant (case["edge"]) the
    data argument scaled so its largest magnitude is the operation's declared input_range."""
    inputs = op.make_inputs(case, device, DTYPES[case.get("dtype", "float32")], seed)
    if case.get("edge") and op.input_range is not None:
        x = inputs.args[0]
        peak = float(x.detach().abs().max())
        with torch.no_grad():
            x.mul_(op.input_range / peak if peak > 0 else 1.0)
    return inputs


def model_output_error(got: torch.Tensor, own: torch.Tensor, gold: torch.Tensor, terms: int) -> OutputError:
    """A model output `got` against float64 `gold`, held to the reference model's own float32 error
    (`own`) grown by sqrt(terms) (model_tolerance)."""
    norm_tol, max_tol = model_tolerance(relative_error(own, gold), max_error(own, gold), terms)
    return OutputError(relative_error(got, gold), max_error(got, gold), norm_tol, max_tol)


def golden(op: Operation, case: Mapping[str, Any], device: torch.device, seed: int) -> Golden:
    """golden_for the inputs an implementation gets for (case, seed)."""
    return golden_for(op, case, inputs_for(op, case, device, seed))


def check(op: Operation, impl: Implementation, case: Mapping[str, Any], device: torch.device, seed: int,
          gold: Golden | None = None, variant: str = "as timed") -> Check:
    """Compare `impl` with the float64 reference on the inputs of `seed` for `case`."""
    gold = gold if gold is not None else golden(op, case, device, seed)
    try:
        got = forward_backward(impl.fn, op, inputs_for(op, case, device, seed))
    except (TypeError, ValueError, NotImplementedError) as exc:  # a layout or dtype it refuses
        raise UnsupportedInput(f"{impl.name} refused {variant} {_label(case)}: {exc}") from exc
    return Check(variant, dict(case), gold.compare(got))


def snapshot(inputs: OpInputs) -> OpInputs:
    """A copy of the values in `inputs` (dense; for checking what a timed call was given)."""
    return OpInputs(args=tuple(t.detach().clone().requires_grad_(t.requires_grad) for t in inputs.args),
                    grad_output=None if inputs.grad_output is None else inputs.grad_output.detach().clone(),
                    options=inputs.options)


class UnsupportedInput(Exception):
    """An implementation refused an input (a dtype or layout it does not support): a clear failure."""


def check_all(op: Operation, impl: Implementation, case: Mapping[str, Any], device: torch.device, seed: int
              ) -> list[Check]:
    """The case as timed, then every variant the operation defines for it; stops at the first
    failure (its Check is last in the list)."""
    checks = []
    variants = [("as timed", dict(case))] + (op.check_variants(case, device.type) if op.check_variants else [])
    if op.input_range is not None:
        variants.append((f"{EDGE} (largest |input| {op.input_range:g})", {**case, "edge": True}))
    for i, (name, variant) in enumerate(variants):
        chk = check(op, impl, variant, device, seed + 7919 * i, variant=name)
        checks.append(chk)
        if not chk.ok:
            break
    return checks
