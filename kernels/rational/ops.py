"""The GR-KAN rational operation: inputs in every layout its callers use, bytes that must move,
and what each implementation is checked on.

The function (KAT's kernel form, "PAU version A"; DESIGN.md pins it), per channel c of group g:

    F(x) = (a0 + a1 x + ... + a5 x^5) / (1 + |b0| |x| + |b1| |x|^2 + |b2| |x|^3 + |b3| |x|^4)

with the D channels of the last dimension split into G contiguous groups of D/G channels, each
group with its own 6 numerator and 4 denominator coefficients: a is (G, 6), b is (G, 4).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from kbench.params import Param
from kbench.registry import Operation, OpInputs, Pass, register_operation

GROUPS = 8  # KAT's default group count; every shape's last dimension must divide by it
NUM_COEFFS = 6  # a0..a5 (numerator degree 5)
DEN_COEFFS = 4  # b0..b3 (denominator degree 4, constant term fixed to 1)
FLOPS_PER_ELEMENT = 21  # 2m + 2n + 3 with m=5, n=4: KAT's own count (tools/calculate_flops.py)
# Layouts of the inputs, as callers pass them:
# - contiguous: every tensor dense;
# - expanded: the numerator is one row shared by all groups, passed as a (G, 6) stride-0 view (the
#   KAT model's layout: its numerator is (1, 6));
# - strided: x is a slice of a wider tensor (its rows are not D apart in memory);
# - zeros: every seventh element of x is exactly 0 (|x| and sign(x) at 0).
LAYOUTS = ("contiguous", "expanded", "strided", "zeros")
CASE_FIELDS = {
    "layout": Param(str, "memory layout of the inputs as callers pass them (absent: contiguous)", choices=LAYOUTS),
    "groups": Param(int, f"coefficient groups, dividing the last dimension (absent: KAT's {GROUPS}; 0: one per "
                         "channel)", low=0, high=2**31 - 1),
}
ROWS_PAST_TILES = 4099  # more rows than any kernel's tile, and not a multiple of any power of two


def make_inputs(case: Mapping[str, Any], device: torch.device, dtype: torch.dtype, seed: int) -> OpInputs:
    """x and dy standard normal, coefficients normal * 0.5 (as notes/anchors-h100.md), seeded, in
    the case's layout. Drawn on `device`, so one seed gives different numbers on CPU and GPU."""
    shape = tuple(case["shape"])
    layout = case.get("layout") or "contiguous"
    groups = groups_of(case)
    if layout not in LAYOUTS:
        raise ValueError(f"layout {layout!r}: expected one of {', '.join(LAYOUTS)}")
    if len(shape) < 2 or shape[-1] % groups:
        raise ValueError(f"shape {list(shape)}: expected (..., D) with D divisible by {groups} groups")
    gen = torch.Generator(device=device).manual_seed(seed)
    coeff_dtype = torch.float64 if dtype == torch.float64 else torch.float32
    draw = torch.float64 if dtype == torch.float64 else torch.float32

    def normal(*size: int, to: torch.dtype, scale: float = 1.0) -> torch.Tensor:
        return (torch.randn(size, generator=gen, device=device, dtype=draw) * scale).to(to)

    wide = normal(*shape[:-1], shape[-1] + (GROUPS if layout == "strided" else 0), to=dtype)
    if layout == "zeros":
        wide.view(-1)[::7] = 0.0
    wide.requires_grad_()
    x = wide[..., :shape[-1]] if layout == "strided" else wide
    if layout == "expanded":
        shared = normal(1, NUM_COEFFS, to=coeff_dtype, scale=0.5).requires_grad_()
        a = shared.expand(groups, NUM_COEFFS)
    else:
        shared = a = normal(groups, NUM_COEFFS, to=coeff_dtype, scale=0.5).requires_grad_()
    b = normal(groups, DEN_COEFFS, to=coeff_dtype, scale=0.5).requires_grad_()
    dy = normal(*shape, to=dtype)
    return OpInputs(args=(x, a, b), grad_output=dy, storage=(wide, shared, b, dy))


def bytes_moved(case: Mapping[str, Any], pass_: Pass, dtype: torch.dtype) -> int:
    """The fewest bytes each pass must move: forward reads x, writes y; backward reads x and dy,
    writes dx. Coefficients (40 floats per group) are negligible and not counted."""
    words = {"fwd": 2, "bwd": 3, "fwd+bwd": 5}[pass_]
    return words * elements(case["shape"]) * torch.tensor([], dtype=dtype).element_size()


def elements(shape: list[int] | tuple[int, ...]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def groups_of(case: Mapping[str, Any]) -> int:
    """The case's coefficient groups: 8 (KAT's) unless it says; 0 means one per channel."""
    groups = int(case.get("groups", GROUPS))
    return int(case["shape"][-1]) if groups == 0 else groups


def reduction_terms(case: Mapping[str, Any]) -> dict[str, int]:
    """A coefficient's gradient sums over every row and every channel of its group."""
    shape = case["shape"]
    per_coefficient = elements(shape) // groups_of(case)
    return {"dA": per_coefficient, "dB": per_coefficient}


def check_case(case: Mapping[str, Any]) -> tuple[str, str, Any] | None:
    """Why the operation cannot take `case`, as (field, expected, given), or None."""
    shape = case["shape"]
    if len(shape) < 2 or shape[-1] % groups_of(case):
        return "shape", f"at least 2 dimensions, the last divisible by {groups_of(case)} groups", shape
    return None


def check_variants(case: Mapping[str, Any], device_type: str) -> list[tuple[str, dict[str, Any]]]:
    """Besides the case as timed: other layouts (the model's among them), exact zeros, one row,
    and more rows than any tile (at the narrowest width, 3 channels a group)."""
    d, dtype = case["shape"][-1], case.get("dtype", "float32")
    groups = {"groups": case["groups"]} if "groups" in case else {}
    small = [37, d] if d <= 4096 else [5, d]
    narrow = 3 * (groups_of(case) if groups else GROUPS)
    variants = [(f"{layout} layout", {"shape": small, "dtype": dtype, "layout": layout, **groups})
                for layout in LAYOUTS if layout != (case.get("layout") or "contiguous")]
    variants += [("one row", {"shape": [1, d], "dtype": dtype, **groups}),
                 ("rows past every tile", {"shape": [ROWS_PAST_TILES, narrow if not groups else d], "dtype": dtype,
                                           **groups})]
    if device_type == "cuda":
        variants.append(("many rows", {"shape": [16 * ROWS_PAST_TILES + 1, 3 * GROUPS], "dtype": dtype}))
    return variants


OPERATION = register_operation(
    Operation(
        name="rational",
        make_inputs=make_inputs,
        bytes_moved=bytes_moved,
        reference="torch_reference",
        output_name="y",
        grad_names=("dx", "dA", "dB"),
        reduction_terms=reduction_terms,
        check_variants=check_variants,
        check_case=check_case,
        case_fields=CASE_FIELDS,
        # What a GR-KAN layer's activation sees after LayerNorm and a linear map: a few tens at most.
        input_range=32.0,
        # 2 x 37 rows (a partial tile) of 16 channels (every one of the 8 groups, 2 channels each)
        example_case={"shape": [2, 37, 16], "dtype": "float32"},
    )
)
