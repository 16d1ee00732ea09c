"""kbench's own GR-KAN kernels in Triton: one pass over memory, exact, optionally deterministic.

Idea: tile the (rows, D) tensor by *columns*, not by groups. A program owns a block of BLOCK_C
channels (any mix of groups) and walks many row blocks. Each channel's 10 coefficients are loaded
once as vectors (gathered by the channel's group), and the backward pass keeps 10 per-channel fp32
accumulators in registers across all its rows. At the end a program writes its per-channel sums:

- deterministic mode: to its own slot of a partials buffer (n_row_programs, 10, D), reduced
  afterwards in float64 in a fixed order -> bitwise identical coefficient gradients run to run;
- atomic mode: with one atomic add per channel and coefficient into a (10, D) buffer.

Either way the coefficient traffic is n_row_programs * 10 * D words, about 1% of the tensor
traffic at KAT's shapes, and nothing contends. Forward reads x once and writes y once; backward
reads x and dy once and writes dx once. Inputs and outputs may be fp32, fp16 or bf16; arithmetic
and coefficient gradients are fp32. The row count is a run-time argument (not specialised), so a
new batch size does not compile a new kernel.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from kbench.registry import register
from kernels.rational._autograd import make_function
from kernels.rational._triton_math import rational_fwd, rational_vjp

FWD_BLOCK_R = 16  # rows per forward program
BWD_BLOCK_R = 16  # rows per backward loop iteration
MAX_BLOCK_C = 256  # channels per program
ROW_PROGRAMS_PER_SM = 2  # backward: row programs per multiprocessor, over all column blocks


@triton.jit
def _load_coeffs(a_ptr, b_ptr, cols, col_mask, D_PER_GROUP):
    """The 10 coefficients of each channel in `cols`, as (BLOCK_C,) vectors, gathered by group."""
    a = a_ptr + (cols // D_PER_GROUP) * 6
    b = b_ptr + (cols // D_PER_GROUP) * 4
    return (tl.load(a, mask=col_mask), tl.load(a + 1, mask=col_mask), tl.load(a + 2, mask=col_mask),
            tl.load(a + 3, mask=col_mask), tl.load(a + 4, mask=col_mask), tl.load(a + 5, mask=col_mask),
            tl.load(b, mask=col_mask), tl.load(b + 1, mask=col_mask), tl.load(b + 2, mask=col_mask),
            tl.load(b + 3, mask=col_mask))


@triton.jit(do_not_specialize=["n_rows"])
def _rational_fwd_kernel(
    x_ptr, a_ptr, b_ptr, y_ptr,
    n_rows, D, D_PER_GROUP,
    BLOCK_R: tl.constexpr, BLOCK_C: tl.constexpr,
):
    n_col_blocks = tl.cdiv(D, BLOCK_C)
    pid = tl.program_id(0)
    rows = (pid // n_col_blocks) * BLOCK_R + tl.arange(0, BLOCK_R)
    cols = (pid % n_col_blocks) * BLOCK_C + tl.arange(0, BLOCK_C)
    col_mask = cols < D
    a0, a1, a2, a3, a4, a5, b0, b1, b2, b3 = _load_coeffs(a_ptr, b_ptr, cols, col_mask, D_PER_GROUP)
    mask = (rows[:, None] < n_rows) & col_mask[None, :]
    offs = rows[:, None].to(tl.int64) * D + cols[None, :]  # (BLOCK_R, BLOCK_C); int64: tensors > 2^31
    x = tl.load(x_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    y = rational_fwd(x, a0[None, :], a1[None, :], a2[None, :], a3[None, :], a4[None, :], a5[None, :],
                     b0[None, :], b1[None, :], b2[None, :], b3[None, :])
    tl.store(y_ptr + offs, y.to(y_ptr.dtype.element_ty), mask=mask)


@triton.jit(do_not_specialize=["n_rows"])
def _rational_bwd_kernel(
    x_ptr, dy_ptr, a_ptr, b_ptr, dx_ptr,
    part_ptr,  # deterministic: (n_row_programs, 10, D) partials; atomic: (10, D), zeroed
    n_rows, D, D_PER_GROUP,
    BLOCK_R: tl.constexpr, BLOCK_C: tl.constexpr, DETERMINISTIC: tl.constexpr,
):
    col_block, row_prog = tl.program_id(0), tl.program_id(1)
    n_row_progs = tl.num_programs(1)
    cols = col_block * BLOCK_C + tl.arange(0, BLOCK_C)
    col_mask = cols < D
    a0, a1, a2, a3, a4, a5, b0, b1, b2, b3 = _load_coeffs(a_ptr, b_ptr, cols, col_mask, D_PER_GROUP)
    zero = tl.zeros([BLOCK_C], dtype=tl.float32)
    s_a0, s_a1, s_a2, s_a3, s_a4, s_a5 = zero, zero, zero, zero, zero, zero
    s_b0, s_b1, s_b2, s_b3 = zero, zero, zero, zero
    for r0 in range(row_prog * BLOCK_R, n_rows, n_row_progs * BLOCK_R):
        rows = r0 + tl.arange(0, BLOCK_R)
        mask = (rows[:, None] < n_rows) & col_mask[None, :]
        offs = rows[:, None].to(tl.int64) * D + cols[None, :]
        x = tl.load(x_ptr + offs, mask=mask, other=0.0).to(tl.float32)
        g = tl.load(dy_ptr + offs, mask=mask, other=0.0).to(tl.float32)  # masked lanes add g = 0
        dx, da0, da1, da2, da3, da4, da5, db0, db1, db2, db3 = rational_vjp(
            x, g, a0[None, :], a1[None, :], a2[None, :], a3[None, :], a4[None, :], a5[None, :],
            b0[None, :], b1[None, :], b2[None, :], b3[None, :])
        tl.store(dx_ptr + offs, dx.to(dx_ptr.dtype.element_ty), mask=mask)
        s_a0 += tl.sum(da0, axis=0)
        s_a1 += tl.sum(da1, axis=0)
        s_a2 += tl.sum(da2, axis=0)
        s_a3 += tl.sum(da3, axis=0)
        s_a4 += tl.sum(da4, axis=0)
        s_a5 += tl.sum(da5, axis=0)
        s_b0 += tl.sum(db0, axis=0)
        s_b1 += tl.sum(db1, axis=0)
        s_b2 += tl.sum(db2, axis=0)
        s_b3 += tl.sum(db3, axis=0)
    if DETERMINISTIC:
        out = part_ptr + row_prog.to(tl.int64) * 10 * D + cols
        tl.store(out, s_a0, mask=col_mask)
        tl.store(out + D, s_a1, mask=col_mask)
        tl.store(out + 2 * D, s_a2, mask=col_mask)
        tl.store(out + 3 * D, s_a3, mask=col_mask)
        tl.store(out + 4 * D, s_a4, mask=col_mask)
        tl.store(out + 5 * D, s_a5, mask=col_mask)
        tl.store(out + 6 * D, s_b0, mask=col_mask)
        tl.store(out + 7 * D, s_b1, mask=col_mask)
        tl.store(out + 8 * D, s_b2, mask=col_mask)
        tl.store(out + 9 * D, s_b3, mask=col_mask)
    else:
        out = part_ptr + cols
        tl.atomic_add(out, s_a0, mask=col_mask)
        tl.atomic_add(out + D, s_a1, mask=col_mask)
        tl.atomic_add(out + 2 * D, s_a2, mask=col_mask)
        tl.atomic_add(out + 3 * D, s_a3, mask=col_mask)
        tl.atomic_add(out + 4 * D, s_a4, mask=col_mask)
        tl.atomic_add(out + 5 * D, s_a5, mask=col_mask)
        tl.atomic_add(out + 6 * D, s_b0, mask=col_mask)
        tl.atomic_add(out + 7 * D, s_b1, mask=col_mask)
        tl.atomic_add(out + 8 * D, s_b2, mask=col_mask)
        tl.atomic_add(out + 9 * D, s_b3, mask=col_mask)


def _block_c(d: int) -> int:
    """The widest power of two <= MAX_BLOCK_C that divides D (no masked lanes), at least 16."""
    block = MAX_BLOCK_C
    while block > 16 and d % block:
        block //= 2
    return block


def _row_programs(x: torch.Tensor, n_col_blocks: int, block_r: int) -> int:
    sms = torch.cuda.get_device_properties(x.device).multi_processor_count if x.is_cuda else 4
    wanted = max(1, ROW_PROGRAMS_PER_SM * sms // n_col_blocks)
    return min(wanted, triton.cdiv(x.shape[0], block_r))


def forward(x: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    y = torch.empty_like(x)
    rows, d = x.shape
    block_c = _block_c(d)
    grid = (triton.cdiv(rows, FWD_BLOCK_R) * triton.cdiv(d, block_c),)
    _rational_fwd_kernel[grid](x, a, b, y, rows, d, d // a.shape[0], BLOCK_R=FWD_BLOCK_R, BLOCK_C=block_c)
    return y


def _backward(x: torch.Tensor, dy: torch.Tensor, a: torch.Tensor, b: torch.Tensor, deterministic: bool
              ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    rows, d = x.shape
    groups = a.shape[0]
    block_c = _block_c(d)
    n_col_blocks = triton.cdiv(d, block_c)
    n_row_progs = _row_programs(x, n_col_blocks, BWD_BLOCK_R)
    dx = torch.empty_like(x)
    if deterministic:
        part = torch.empty(n_row_progs, 10, d, dtype=torch.float32, device=x.device)
    else:
        part = torch.zeros(10, d, dtype=torch.float32, device=x.device)
    _rational_bwd_kernel[(n_col_blocks, n_row_progs)](
        x, dy, a, b, dx, part, rows, d, d // groups,
        BLOCK_R=BWD_BLOCK_R, BLOCK_C=block_c, DETERMINISTIC=deterministic)
    # Fixed-order float64 reduction: (programs,) 10, D -> 10, G, D/G -> 10, G.
    per_channel = part.double().sum(0) if deterministic else part.double()
    coeff = per_channel.view(10, groups, d // groups).sum(-1)
    return dx, coeff[:6].t().float().contiguous(), coeff[6:].t().float().contiguous()


def backward(x: torch.Tensor, dy: torch.Tensor, a: torch.Tensor, b: torch.Tensor
             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    return _backward(x, dy, a, b, deterministic=False)


def backward_deterministic(x: torch.Tensor, dy: torch.Tensor, a: torch.Tensor, b: torch.Tensor
                           ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    return _backward(x, dy, a, b, deterministic=True)


_DTYPES = ("float32", "float16", "bfloat16")
kbench_rational = register(
    "rational", "kbench_triton", requires=("triton",), dtypes=_DTYPES,
    description="kbench: column-block tiles, per-channel register sums, one atomic per channel and coefficient",
)(make_function("kbench_triton", forward, backward))
kbench_rational_deterministic = register(
    "rational", "kbench_triton_det", requires=("triton",), dtypes=_DTYPES,
    description="kbench, deterministic: per-program partials, fixed-order float64 reduction (no atomics)",
)(make_function("kbench_triton_det", forward, backward_deterministic))
