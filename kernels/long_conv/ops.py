"""A long causal convolution (H3, Hyena, FlashButterfly): each channel's input convolved with that
channel's kernel as long as the sequence.

    y[b, h, t] = sum_{s <= t} k[h, s] * u[b, h, t - s]

with u (B, H, L) and k (H, L). Computed by FFT of length 2L (zero-padded, so the circular
convolution is the causal one). Case: shape [B, H, L], float32.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from kbench.registry import Operation, OpInputs, Pass, register_operation


def make_inputs(case: Mapping[str, Any], device: torch.device, dtype: torch.dtype, seed: int) -> OpInputs:
    """u standard normal; k decaying as 1/sqrt(L) so that y stays of unit scale; dy standard normal."""
    b, h, n = (int(d) for d in case["shape"])
    gen = torch.Generator(device=device).manual_seed(seed)
    u = torch.randn((b, h, n), generator=gen, device=device, dtype=dtype).requires_grad_()
    k = (torch.randn((h, n), generator=gen, device=device, dtype=dtype) * n ** -0.5).requires_grad_()
    dy = torch.randn((b, h, n), generator=gen, device=device, dtype=dtype)
    return OpInputs(args=(u, k), grad_output=dy)


def bytes_moved(case: Mapping[str, Any], pass_: Pass, dtype: torch.dtype) -> int:
    """Forward: u and k read, y written. Backward: dy, u and k read, du and dk written."""
    b, h, n = (int(d) for d in case["shape"])
    size = torch.tensor([], dtype=dtype).element_size()
    fwd, bwd = 2 * b * h * n + h * n, 3 * b * h * n + 2 * h * n
    return {"fwd": fwd, "bwd": bwd, "fwd+bwd": fwd + bwd}[pass_] * size


def check_case(case: Mapping[str, Any]) -> tuple[str, str, Any] | None:
    if len(case["shape"]) != 3:
        return "shape", "[B, H, L]: batch, channels, sequence length", case["shape"]
    return None


def check_variants(case: Mapping[str, Any], device_type: str) -> list[tuple[str, dict[str, Any]]]:
    """One channel of one sequence, and a short sequence of several: the batch and channel indexing."""
    dtype = case.get("dtype", "float32")
    n = min(int(case["shape"][2]), 4096)
    return [("one channel", {"shape": [1, 1, n], "dtype": dtype}), ("short", {"shape": [2, 3, 16], "dtype": dtype})]


OPERATION = register_operation(Operation(
    name="long_conv", make_inputs=make_inputs, bytes_moved=bytes_moved, reference="torch_fft", output_name="y",
    grad_names=("du", "dk"), check_case=check_case, check_variants=check_variants,
    example_case={"shape": [2, 3, 64], "dtype": "float32"},
))
