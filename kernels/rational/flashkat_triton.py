"""FlashKAT's Triton backward, re-implemented from its published algorithm.

Algorithm (notes/kat-flashkat.md, section 2.4): view x and dy as (R, D). A 2-D grid of
(row tiles of BLOCK_M rows) x (G groups); each program walks its group's channels in tiles of
BLOCK_N columns, writes dx, sums each tile's ten coefficient contributions in registers, and ends
with one atomic add per coefficient. Atomics drop from 10 per element to 10 per program, i.e. by
BLOCK_M * D/G. The forward pass is KAT's (1-D, gathered coefficients) with 128-element blocks.

Traffic: as KAT's kernels, less the contended atomics. Columns beyond the group's width are
masked: a group width that is not a multiple of BLOCK_N wastes lanes (24 channels: 62% masked).
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from kbench.registry import register
from kernels.rational._autograd import make_function
from kernels.rational._triton_math import rational_vjp
from kernels.rational.kat_triton import forward_1d

BLOCK_M = 64  # rows per program (FlashKAT's BLOCK_M_OUT * BLOCK_M_IN = 1 * 64)
BLOCK_N = 64  # columns per tile inside a group (FlashKAT's GROUP_IN)
FWD_BLOCK = 128


@triton.jit
def _rational_bwd_kernel(
    x_ptr, dy_ptr, a_ptr, b_ptr,
    dx_ptr, da_ptr, db_ptr,  # da (G, 6), db (G, 4): fp32, zeroed by the launcher
    n_rows, D, D_PER_GROUP,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
):
    tile, grp = tl.program_id(0), tl.program_id(1)
    # This program's group: its coefficients are scalars, loaded once.
    a0 = tl.load(a_ptr + grp * 6)
    a1 = tl.load(a_ptr + grp * 6 + 1)
    a2 = tl.load(a_ptr + grp * 6 + 2)
    a3 = tl.load(a_ptr + grp * 6 + 3)
    a4 = tl.load(a_ptr + grp * 6 + 4)
    a5 = tl.load(a_ptr + grp * 6 + 5)
    b0 = tl.load(b_ptr + grp * 4)
    b1 = tl.load(b_ptr + grp * 4 + 1)
    b2 = tl.load(b_ptr + grp * 4 + 2)
    b3 = tl.load(b_ptr + grp * 4 + 3)
    rows = tile * BLOCK_M + tl.arange(0, BLOCK_M)
    zero = tl.sum(tl.zeros([BLOCK_N], dtype=tl.float32), axis=0)  # an fp32 scalar for the sums
    s_a0 = zero
    s_a1 = zero
    s_a2 = zero
    s_a3 = zero
    s_a4 = zero
    s_a5 = zero
    s_b0 = zero
    s_b1 = zero
    s_b2 = zero
    s_b3 = zero
    for n0 in range(0, D_PER_GROUP, BLOCK_N):
        cols_in_group = n0 + tl.arange(0, BLOCK_N)
        cols = grp * D_PER_GROUP + cols_in_group
        mask = (rows[:, None] < n_rows) & (cols_in_group[None, :] < D_PER_GROUP)
        offs = rows[:, None] * D + cols[None, :]  # (BLOCK_M, BLOCK_N) tile
        x = tl.load(x_ptr + offs, mask=mask, other=0.0).to(tl.float32)
        g = tl.load(dy_ptr + offs, mask=mask, other=0.0).to(tl.float32)  # masked lanes add g = 0
        dx, da0, da1, da2, da3, da4, da5, db0, db1, db2, db3 = rational_vjp(
            x, g, a0, a1, a2, a3, a4, a5, b0, b1, b2, b3)
        tl.store(dx_ptr + offs, dx.to(dx_ptr.dtype.element_ty), mask=mask)
        s_a0 += tl.sum(tl.sum(da0, axis=1), axis=0)
        s_a1 += tl.sum(tl.sum(da1, axis=1), axis=0)
        s_a2 += tl.sum(tl.sum(da2, axis=1), axis=0)
        s_a3 += tl.sum(tl.sum(da3, axis=1), axis=0)
        s_a4 += tl.sum(tl.sum(da4, axis=1), axis=0)
        s_a5 += tl.sum(tl.sum(da5, axis=1), axis=0)
        s_b0 += tl.sum(tl.sum(db0, axis=1), axis=0)
        s_b1 += tl.sum(tl.sum(db1, axis=1), axis=0)
        s_b2 += tl.sum(tl.sum(db2, axis=1), axis=0)
        s_b3 += tl.sum(tl.sum(db3, axis=1), axis=0)
    # One atomic per coefficient per program.
    tl.atomic_add(da_ptr + grp * 6, s_a0)
    tl.atomic_add(da_ptr + grp * 6 + 1, s_a1)
    tl.atomic_add(da_ptr + grp * 6 + 2, s_a2)
    tl.atomic_add(da_ptr + grp * 6 + 3, s_a3)
    tl.atomic_add(da_ptr + grp * 6 + 4, s_a4)
    tl.atomic_add(da_ptr + grp * 6 + 5, s_a5)
    tl.atomic_add(db_ptr + grp * 4, s_b0)
    tl.atomic_add(db_ptr + grp * 4 + 1, s_b1)
    tl.atomic_add(db_ptr + grp * 4 + 2, s_b2)
    tl.atomic_add(db_ptr + grp * 4 + 3, s_b3)


def forward(x: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return forward_1d(x, a, b, block=FWD_BLOCK)


def backward(x: torch.Tensor, dy: torch.Tensor, a: torch.Tensor, b: torch.Tensor
             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    dx = torch.empty_like(x)
    da = torch.zeros_like(a, dtype=torch.float32)
    db = torch.zeros_like(b, dtype=torch.float32)
    rows, d = x.shape
    groups = a.shape[0]
    grid = (triton.cdiv(rows, BLOCK_M), groups)
    _rational_bwd_kernel[grid](x, dy, a, b, dx, da, db, rows, d, d // groups, BLOCK_M=BLOCK_M, BLOCK_N=BLOCK_N)
    return dx, da, db


flashkat_rational = register(
    "rational", "flashkat_triton", requires=("triton",),
    description="FlashKAT's design: (row tile x group) grid, in-program sums, one atomic per coefficient",
)(make_function("flashkat_triton", forward, backward))
