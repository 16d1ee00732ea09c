"""The activation-sparse FFN of one decoding token: what it computes, its inputs, its memory floor.

After the gate of a gated FFN has been applied (ReLU or a threshold leaves exact zeros in `a`),
the rest of the FFN for one token is

    y = W_down ((W_up x) * a)

with x (d,), a (h,), W_up (h, d) and W_down stored transposed as (h, d), so that a neuron's two
weight rows are contiguous (ProSparse's and CHESS's operators read them the same way). A neuron
with a_i = 0 contributes nothing: a sparse kernel need not read its two rows, so the fewest bytes
the operation must move are the active rows, plus x, a and y. Case: shape [h, d] and `sparsity`,
the share of neurons with a_i = 0 (exactly round(sparsity * h) of them, at random positions).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from kbench.params import Param
from kbench.registry import Operation, OpInputs, Pass, register_operation

ODD_SHAPE = [1001, 257]  # no tile divides it


def active_rows(case: Mapping[str, Any]) -> int:
    """Neurons with a_i != 0: the rest of h at the case's sparsity, and never fewer than two (the
    first and the last are always active; see make_inputs)."""
    h = int(case["shape"][0])
    return max(min(h, 2), h - round(float(case.get("sparsity", 0.0)) * h))


def make_inputs(case: Mapping[str, Any], device: torch.device, dtype: torch.dtype, seed: int) -> OpInputs:
    """x normal; weights normal / sqrt(fan-in) (unit-scale outputs); a normal (both signs: a gate
    times an up-projection, or a shifted threshold, need not be positive) at the active neurons and
    exactly 0 at the others, never at the first or last neuron (a kernel that drops a tile at either
    end is caught). Seeded, drawn on `device`."""
    h, d = (int(n) for n in case["shape"])
    gen = torch.Generator(device=device).manual_seed(seed)
    draw = torch.float64 if dtype == torch.float64 else torch.float32

    def normal(*size: int, scale: float = 1.0) -> torch.Tensor:
        return (torch.randn(size, generator=gen, device=device, dtype=draw) * scale).to(dtype)

    x = normal(d)
    a = normal(h)
    inner = max(h - 2, 0)
    off = 1 + torch.randperm(inner, generator=gen, device=device)[: min(inner, h - active_rows(case))]
    a[off] = 0
    w_up = normal(h, d, scale=d ** -0.5)
    w_down_t = normal(h, d, scale=h ** -0.5)
    return OpInputs(args=(x, a, w_up, w_down_t), grad_output=torch.zeros(d, device=device, dtype=dtype))


def bytes_moved(case: Mapping[str, Any], pass_: Pass, dtype: torch.dtype) -> int:
    """The active neurons' two weight rows, plus x, a and y."""
    h, d = (int(n) for n in case["shape"])
    size = torch.tensor([], dtype=dtype).element_size()
    return (2 * active_rows(case) * d + 2 * d + h) * size


def check_case(case: Mapping[str, Any]) -> tuple[str, str, Any] | None:
    if len(case["shape"]) != 2:
        return "shape", "[h, d]: neurons, model width", case["shape"]
    return None


def check_variants(case: Mapping[str, Any], device_type: str) -> list[tuple[str, dict[str, Any]]]:
    """Dense (no zeros), nearly all zeros, and a shape no tile divides."""
    dtype = case.get("dtype", "float32")
    small = [min(int(case["shape"][0]), 1536), min(int(case["shape"][1]), 512)]
    return [("dense", {"shape": small, "dtype": dtype, "sparsity": 0.0}),
            ("99% inactive", {"shape": small, "dtype": dtype, "sparsity": 0.99}),
            ("odd shape", {"shape": ODD_SHAPE, "dtype": dtype, "sparsity": float(case["sparsity"])})]


OPERATION = register_operation(Operation(
    name="sparse_ffn", make_inputs=make_inputs, bytes_moved=bytes_moved, reference="torch_dense", output_name="y",
    # No reduction_terms: the reference rounds its output once (its products accumulate in float32 or
    # wider), so its own error is the scale of the tolerance; sqrt(h) would let a half-size answer pass.
    grad_names=(), check_variants=check_variants,
    case_fields={"sparsity": Param(float, "the share of inactive neurons", required=True, low=0.0, high=0.9999)},
    check_case=check_case, example_case={"shape": [37, 24], "sparsity": 0.5, "dtype": "float32"},
))
