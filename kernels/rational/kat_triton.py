"""KAT's Triton kernels (the FlashKAT paper's baseline), re-implemented from their algorithm.

Algorithm (notes/kat-flashkat.md, section 2.3; KAT's default since Feb 2025): a 1-D grid over the
flattened tensor, 256 elements per program. Each element finds its group from its channel index,
gathers its group's 10 coefficients, and in the backward pass adds its 10 coefficient-gradient
contributions straight into global memory with atomic adds. All lanes of a program hit the same one
or two addresses per coefficient, so 10 * numel fp32 atomics contend on 10 * G addresses: that
contention is the bottleneck FlashKAT identified.

Traffic: forward reads x, writes y; backward reads x and dy, writes dx, plus 10 atomics per element.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from kbench.registry import register
from kernels.rational._autograd import make_function
from kernels.rational._triton_math import rational_fwd, rational_vjp

BLOCK = 256  # elements per program, as KAT's launcher


@triton.jit
def _rational_fwd_kernel(
    x_ptr, a_ptr, b_ptr, y_ptr,
    n_elements,  # rows * D
    D,  # channels (last dimension)
    D_PER_GROUP,  # D / G
    BLOCK: tl.constexpr,
):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n_elements
    grp = (offs % D) // D_PER_GROUP  # contiguous channel blocks share a group
    x = tl.load(x_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    a = a_ptr + grp * 6
    b = b_ptr + grp * 4
    y = rational_fwd(
        x,
        tl.load(a, mask=mask), tl.load(a + 1, mask=mask), tl.load(a + 2, mask=mask),
        tl.load(a + 3, mask=mask), tl.load(a + 4, mask=mask), tl.load(a + 5, mask=mask),
        tl.load(b, mask=mask), tl.load(b + 1, mask=mask), tl.load(b + 2, mask=mask), tl.load(b + 3, mask=mask),
    )
    tl.store(y_ptr + offs, y.to(y_ptr.dtype.element_ty), mask=mask)


@triton.jit
def _rational_bwd_kernel(
    x_ptr, dy_ptr, a_ptr, b_ptr,
    dx_ptr, da_ptr, db_ptr,  # da (G, 6) and db (G, 4) are fp32 and zeroed by the launcher
    n_elements, D, D_PER_GROUP,
    BLOCK: tl.constexpr,
):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n_elements
    grp = (offs % D) // D_PER_GROUP
    x = tl.load(x_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    g = tl.load(dy_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    a = a_ptr + grp * 6
    b = b_ptr + grp * 4
    dx, da0, da1, da2, da3, da4, da5, db0, db1, db2, db3 = rational_vjp(
        x, g,
        tl.load(a, mask=mask), tl.load(a + 1, mask=mask), tl.load(a + 2, mask=mask),
        tl.load(a + 3, mask=mask), tl.load(a + 4, mask=mask), tl.load(a + 5, mask=mask),
        tl.load(b, mask=mask), tl.load(b + 1, mask=mask), tl.load(b + 2, mask=mask), tl.load(b + 3, mask=mask),
    )
    tl.store(dx_ptr + offs, dx.to(dx_ptr.dtype.element_ty), mask=mask)
    # The baseline's defining choice: one global atomic per element and coefficient.
    da = da_ptr + grp * 6
    tl.atomic_add(da, da0, mask=mask)
    tl.atomic_add(da + 1, da1, mask=mask)
    tl.atomic_add(da + 2, da2, mask=mask)
    tl.atomic_add(da + 3, da3, mask=mask)
    tl.atomic_add(da + 4, da4, mask=mask)
    tl.atomic_add(da + 5, da5, mask=mask)
    db = db_ptr + grp * 4
    tl.atomic_add(db, db0, mask=mask)
    tl.atomic_add(db + 1, db1, mask=mask)
    tl.atomic_add(db + 2, db2, mask=mask)
    tl.atomic_add(db + 3, db3, mask=mask)


def forward_1d(x: torch.Tensor, a: torch.Tensor, b: torch.Tensor, block: int = BLOCK) -> torch.Tensor:
    """y for a (rows, D) x; shared with the FlashKAT re-implementation, whose forward is KAT's."""
    y = torch.empty_like(x)
    n, d = x.numel(), x.shape[-1]
    _rational_fwd_kernel[(triton.cdiv(n, block),)](x, a, b, y, n, d, d // a.shape[0], BLOCK=block)
    return y


def backward(x: torch.Tensor, dy: torch.Tensor, a: torch.Tensor, b: torch.Tensor
             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    dx = torch.empty_like(x)
    da = torch.zeros_like(a, dtype=torch.float32)
    db = torch.zeros_like(b, dtype=torch.float32)
    n, d = x.numel(), x.shape[-1]
    _rational_bwd_kernel[(triton.cdiv(n, BLOCK),)](x, dy, a, b, dx, da, db, n, d, d // a.shape[0], BLOCK=BLOCK)
    return dx, da, db


kat_rational = register(
    "rational", "kat_triton", requires=("triton",),
    description="KAT's Triton design: per-element global atomics for the coefficient gradients",
)(make_function("kat_triton", forward_1d, backward))
