"""The PyTorch reference of the GR-KAN rational: plain tensor code, autograd for the backward.

It is what every kernel is checked against (run in float64 for the golden output) and what a user
would write first. Half-precision inputs are computed in float32 and rounded once at the end.
"""

from __future__ import annotations

import torch

from kbench.registry import register


def _horner(coeffs: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """sum_k coeffs[..., k] x^k, highest power first. coeffs: (G, K, 1); x: (..., G, Dg)."""
    out = coeffs[:, -1]
    for k in range(coeffs.shape[1] - 2, -1, -1):
        out = out * x + coeffs[:, k]
    return out


def abs_kernel_convention(t: torch.Tensor) -> torch.Tensor:
    """|t| whose gradient at t = 0 is +1, as KAT's kernels define sign(0) (torch.abs uses 0).

    This matters: an fp32 randn tensor of tens of millions of elements holds a few exact zeros,
    and at each one the two conventions give dx values that differ by g * |b0| * F(0) / Q(0).
    """
    return t * torch.where(t < 0, -1.0, 1.0).to(t.dtype).detach()


def rational(x: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """F(x) with a: (G, 6), b: (G, 4), x: (..., D), D divisible by G."""
    compute = torch.float64 if x.dtype == torch.float64 else torch.float32
    groups = a.shape[0]
    xg = x.to(compute).unflatten(-1, (groups, x.shape[-1] // groups))  # (..., D) -> (..., G, Dg)
    a_ = a.to(compute)[:, :, None]  # (G, 6) -> (G, 6, 1): broadcasts over Dg
    b_ = abs_kernel_convention(b.to(compute))[:, :, None]
    ax = abs_kernel_convention(xg)
    p = _horner(a_, xg)
    q = 1 + ax * _horner(b_, ax)  # 1 + |b0||x| + |b1||x|^2 + |b2||x|^3 + |b3||x|^4
    return (p / q).flatten(-2).to(x.dtype)  # (..., G, Dg) -> (..., D)


register(
    "rational", "torch_reference", dtypes=("float32", "float16", "bfloat16", "float64"),
    description="PyTorch eager, autograd backward; the float64 golden output",
)(rational)
