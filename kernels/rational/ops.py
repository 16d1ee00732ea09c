"""The GR-KAN rational operation: inputs, bytes that must move, tolerances.

The function (KAT's kernel form, "PAU version A"; DESIGN.md pins it), per channel c of group g:

    F(x) = (a0 + a1 x + ... + a5 x^5) / (1 + |b0| |x| + |b1| |x|^2 + |b2| |x|^3 + |b3| |x|^4)

with the D channels of the last dimension split into G contiguous groups of D/G channels, each
group with its own 6 numerator and 4 denominator coefficients: a is (G, 6), b is (G, 4).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from kbench.registry import Operation, OpInputs, Pass, register_operation

GROUPS = 8  # KAT's default group count; every shape's last dimension must divide by it
NUM_COEFFS = 6  # a0..a5 (numerator degree 5)
DEN_COEFFS = 4  # b0..b3 (denominator degree 4, constant term fixed to 1)
FLOPS_PER_ELEMENT = 21  # 2m + 2n + 3 with m=5, n=4: KAT's own count (tools/calculate_flops.py)

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16, "float64": torch.float64}


def make_inputs(case: Mapping[str, Any], device: torch.device, dtype: torch.dtype, seed: int) -> OpInputs:
    """x and dy standard normal, coefficients normal * 0.5 (as notes/anchors-h100.md), seeded.

    Drawn on `device` (fast at GPU sizes), so one seed gives different numbers on CPU and GPU.
    """
    shape = tuple(case["shape"])
    if shape[-1] % GROUPS:
        raise ValueError(f"shape {list(shape)}: the last dimension must be divisible by {GROUPS} groups")
    gen = torch.Generator(device=device).manual_seed(seed)
    coeff_dtype = torch.float64 if dtype == torch.float64 else torch.float32
    draw = torch.float64 if dtype == torch.float64 else torch.float32

    def normal(*size: int, to: torch.dtype, scale: float = 1.0) -> torch.Tensor:
        return (torch.randn(size, generator=gen, device=device, dtype=draw) * scale).to(to)

    return OpInputs(
        args=(
            normal(*shape, to=dtype).requires_grad_(),
            normal(GROUPS, NUM_COEFFS, to=coeff_dtype, scale=0.5).requires_grad_(),
            normal(GROUPS, DEN_COEFFS, to=coeff_dtype, scale=0.5).requires_grad_(),
        ),
        grad_output=normal(*shape, to=dtype),
    )


def bytes_moved(case: Mapping[str, Any], pass_: Pass, dtype: torch.dtype) -> int:
    """The fewest bytes each pass must move: forward reads x, writes y; backward reads x and dy,
    writes dx. Coefficients (40 floats per group) are negligible and not counted."""
    n = 1
    for d in case["shape"]:
        n *= d
    words = {"fwd": 2, "bwd": 3, "fwd+bwd": 5}[pass_]
    return words * n * torch.tensor([], dtype=dtype).element_size()


def elements(shape: list[int] | tuple[int, ...]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


OPERATION = register_operation(
    Operation(
        name="rational",
        make_inputs=make_inputs,
        bytes_moved=bytes_moved,
        # ||out - ref64|| / ||ref64||: fp32 arithmetic lands far under 1e-3; half-precision
        # outputs carry their own rounding (2^-8 for bf16, 2^-11 for fp16).
        tolerance={"float32": 1e-3, "float16": 5e-3, "bfloat16": 2e-2, "float64": 1e-10},
        reference="torch_reference",
        output_name="y",
        grad_names=("dx", "dA", "dB"),
    )
)
