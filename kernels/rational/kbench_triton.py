"""kbench's own GR-KAN kernels in Triton: one pass over memory, exact, optionally deterministic.

Idea: tile the (rows, D) tensor like a plain elementwise kernel (many programs, each one tile of
BLOCK_R rows x BLOCK_C channels, any mix of groups), and shrink each program's coefficient
gradients to per-*group* sums before they leave it. A tile's 10 per-channel column sums are folded
into at most G_PAD groups with a one-hot mask, so a program emits 10 * G_PAD numbers at most:

- deterministic mode: written to the program's own column of a partials buffer (10 * G_PAD,
  programs), then summed in float64 by a second small kernel in a fixed order -> coefficient
  gradients identical bit for bit from run to run, no atomics;
- atomic mode: one float64 atomic add per coefficient and group the tile touches (1 to 3 groups
  at KAT's widths), into dA and dB; fp32 atomics over thousands of programs lost about 1e-6.

Traffic: forward reads x once and writes y once; backward reads x and dy once and writes dx once;
the partials are 10 * G_PAD floats per program (under 1% of the tensor traffic). Inputs and outputs
may be fp32, fp16 or bf16; arithmetic and coefficient gradients are fp32 (the final sums fp64).
The row count is a run-time argument that is not specialised: a new batch size compiles nothing.
On a GPU the tile shape and warps are autotuned once per (D, group width, dtype).
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from kbench.devices import interpreting
from kbench.registry import register
from kernels.rational._autograd import make_function
from kernels.rational._triton_math import rational_fwd, rational_vjp

# Forward tiles: (BLOCK_R, BLOCK_C, num_warps).
FWD_TILES = [(32, 128, 4), (16, 256, 4), (64, 128, 8), (32, 256, 8), (128, 64, 8)]
# Backward tiles: (BLOCK_R, BLOCK_C, num_warps, ROW_ITERS). ROW_ITERS > 1 keeps element-wise
# gradient sums in registers over several row tiles, so the costly cross-thread reductions run
# once per program instead of once per tile (v3 in docs/kernel-log.md).
BWD_TILES = [(32, 128, 4, 1), (16, 256, 4, 1), (64, 128, 8, 1), (8, 128, 4, 8), (8, 256, 8, 8),
             (16, 128, 8, 8), (4, 256, 4, 16), (16, 64, 4, 8)]
# The interpreter (CPU tests) runs one small tile that still loops over rows.
INTERPRETER_FWD = {"BLOCK_R": 32, "BLOCK_C": 128}
INTERPRETER_BWD = {"BLOCK_R": 8, "BLOCK_C": 64, "ROW_ITERS": 2}
REDUCE_BLOCK = 512


def _autotuned(configs: list[triton.Config], **kwargs: object):  # type: ignore[no-untyped-def]
    """Autotune on a GPU; in the interpreter, a plain kernel (launchers pass INTERPRETER_*)."""
    if interpreting():
        return lambda fn: fn
    return triton.autotune(configs=configs, key=["D", "D_PER_GROUP"], **kwargs)  # type: ignore[arg-type]


_FWD_CONFIGS = [triton.Config({"BLOCK_R": r, "BLOCK_C": c}, num_warps=w) for r, c, w in FWD_TILES]
_BWD_CONFIGS = [triton.Config({"BLOCK_R": r, "BLOCK_C": c, "ROW_ITERS": i}, num_warps=w) for r, c, w, i in BWD_TILES]


@triton.jit
def _load_coeffs(a_ptr, b_ptr, cols, col_mask, D_PER_GROUP):
    """The 10 coefficients of each channel in `cols`, as (1, BLOCK_C) rows, gathered by group."""
    a = a_ptr + (cols // D_PER_GROUP) * 6
    b = b_ptr + (cols // D_PER_GROUP) * 4
    return (tl.load(a, mask=col_mask)[None, :], tl.load(a + 1, mask=col_mask)[None, :],
            tl.load(a + 2, mask=col_mask)[None, :], tl.load(a + 3, mask=col_mask)[None, :],
            tl.load(a + 4, mask=col_mask)[None, :], tl.load(a + 5, mask=col_mask)[None, :],
            tl.load(b, mask=col_mask)[None, :], tl.load(b + 1, mask=col_mask)[None, :],
            tl.load(b + 2, mask=col_mask)[None, :], tl.load(b + 3, mask=col_mask)[None, :])


@_autotuned(_FWD_CONFIGS)
@triton.jit(do_not_specialize=["n_rows"])
def _rational_fwd_kernel(
    x_ptr, a_ptr, b_ptr, y_ptr,
    n_rows, D, D_PER_GROUP,
    BLOCK_R: tl.constexpr, BLOCK_C: tl.constexpr,
):
    rows = tl.program_id(0) * BLOCK_R + tl.arange(0, BLOCK_R)
    cols = tl.program_id(1) * BLOCK_C + tl.arange(0, BLOCK_C)
    col_mask = cols < D
    a0, a1, a2, a3, a4, a5, b0, b1, b2, b3 = _load_coeffs(a_ptr, b_ptr, cols, col_mask, D_PER_GROUP)
    mask = (rows[:, None] < n_rows) & col_mask[None, :]
    offs = rows[:, None].to(tl.int64) * D + cols[None, :]  # (BLOCK_R, BLOCK_C); int64: > 2^31 elements
    x = tl.load(x_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    y = rational_fwd(x, a0, a1, a2, a3, a4, a5, b0, b1, b2, b3)
    tl.store(y_ptr + offs, y.to(y_ptr.dtype.element_ty), mask=mask)


@triton.jit
def _group_sums(contrib, onehot):
    """(BLOCK_R, BLOCK_C) contributions -> (G_PAD,) sums per group, columns first."""
    per_col = tl.sum(contrib, axis=0)
    return tl.sum(tl.where(onehot, per_col[:, None], 0.0), axis=0)


@triton.jit
def _emit(dst_ptr, k, value, n_progs, prog, da_ptr, db_ptr, groups, emit_mask, DETERMINISTIC: tl.constexpr,
          G_PAD: tl.constexpr):
    """Coefficient k's per-group sums: to this program's slot of the partials, or atomically."""
    if DETERMINISTIC:
        tl.store(dst_ptr + (k * G_PAD + tl.arange(0, G_PAD)).to(tl.int64) * n_progs + prog, value)
    else:
        if k < 6:
            tl.atomic_add(da_ptr + groups * 6 + k, value.to(tl.float64), mask=emit_mask)
        else:
            tl.atomic_add(db_ptr + groups * 4 + (k - 6), value.to(tl.float64), mask=emit_mask)


@_autotuned(_BWD_CONFIGS, reset_to_zero=["da_ptr", "db_ptr"])
@triton.jit(do_not_specialize=["n_rows"])
def _rational_bwd_kernel(
    x_ptr, dy_ptr, a_ptr, b_ptr, dx_ptr,
    part_ptr,  # deterministic: (10 * G_PAD, programs) partials, every slot written
    da_ptr, db_ptr,  # atomic mode: (G, 6) and (G, 4) float64, zeroed
    n_rows, D, D_PER_GROUP, N_GROUPS,
    G_PAD: tl.constexpr, DETERMINISTIC: tl.constexpr, BLOCK_R: tl.constexpr, BLOCK_C: tl.constexpr,
    ROW_ITERS: tl.constexpr,
):
    prog = tl.program_id(0) * tl.num_programs(1) + tl.program_id(1)
    n_progs = tl.num_programs(0) * tl.num_programs(1)
    cols = tl.program_id(1) * BLOCK_C + tl.arange(0, BLOCK_C)
    col_mask = cols < D
    a0, a1, a2, a3, a4, a5, b0, b1, b2, b3 = _load_coeffs(a_ptr, b_ptr, cols, col_mask, D_PER_GROUP)
    zero = tl.zeros([BLOCK_R, BLOCK_C], dtype=tl.float32)
    s_a0, s_a1, s_a2, s_a3, s_a4, s_a5 = zero, zero, zero, zero, zero, zero
    s_b0, s_b1, s_b2, s_b3 = zero, zero, zero, zero
    for it in range(ROW_ITERS):
        rows = (tl.program_id(0) * ROW_ITERS + it) * BLOCK_R + tl.arange(0, BLOCK_R)
        mask = (rows[:, None] < n_rows) & col_mask[None, :]
        offs = rows[:, None].to(tl.int64) * D + cols[None, :]
        x = tl.load(x_ptr + offs, mask=mask, other=0.0).to(tl.float32)
        g = tl.load(dy_ptr + offs, mask=mask, other=0.0).to(tl.float32)  # masked lanes add g = 0
        dx, da0, da1, da2, da3, da4, da5, db0, db1, db2, db3 = rational_vjp(
            x, g, a0, a1, a2, a3, a4, a5, b0, b1, b2, b3)
        tl.store(dx_ptr + offs, dx.to(dx_ptr.dtype.element_ty), mask=mask)
        s_a0 += da0
        s_a1 += da1
        s_a2 += da2
        s_a3 += da3
        s_a4 += da4
        s_a5 += da5
        s_b0 += db0
        s_b1 += db1
        s_b2 += db2
        s_b3 += db3
    # Fold columns into groups: onehot[c, j] says channel c belongs to group j.
    groups = tl.arange(0, G_PAD)
    onehot = ((cols // D_PER_GROUP)[:, None] == groups[None, :]) & col_mask[:, None]
    touched = (tl.sum(onehot.to(tl.int32), axis=0) > 0) & (groups < N_GROUPS)
    _emit(part_ptr, 0, _group_sums(s_a0, onehot), n_progs, prog, da_ptr, db_ptr, groups, touched, DETERMINISTIC, G_PAD)
    _emit(part_ptr, 1, _group_sums(s_a1, onehot), n_progs, prog, da_ptr, db_ptr, groups, touched, DETERMINISTIC, G_PAD)
    _emit(part_ptr, 2, _group_sums(s_a2, onehot), n_progs, prog, da_ptr, db_ptr, groups, touched, DETERMINISTIC, G_PAD)
    _emit(part_ptr, 3, _group_sums(s_a3, onehot), n_progs, prog, da_ptr, db_ptr, groups, touched, DETERMINISTIC, G_PAD)
    _emit(part_ptr, 4, _group_sums(s_a4, onehot), n_progs, prog, da_ptr, db_ptr, groups, touched, DETERMINISTIC, G_PAD)
    _emit(part_ptr, 5, _group_sums(s_a5, onehot), n_progs, prog, da_ptr, db_ptr, groups, touched, DETERMINISTIC, G_PAD)
    _emit(part_ptr, 6, _group_sums(s_b0, onehot), n_progs, prog, da_ptr, db_ptr, groups, touched, DETERMINISTIC, G_PAD)
    _emit(part_ptr, 7, _group_sums(s_b1, onehot), n_progs, prog, da_ptr, db_ptr, groups, touched, DETERMINISTIC, G_PAD)
    _emit(part_ptr, 8, _group_sums(s_b2, onehot), n_progs, prog, da_ptr, db_ptr, groups, touched, DETERMINISTIC, G_PAD)
    _emit(part_ptr, 9, _group_sums(s_b3, onehot), n_progs, prog, da_ptr, db_ptr, groups, touched, DETERMINISTIC, G_PAD)


@triton.jit
def _reduce_partials_kernel(part_ptr, da_ptr, db_ptr, n_progs, N_GROUPS, G_PAD: tl.constexpr,
                            BLOCK: tl.constexpr):
    """One program per (coefficient, group): sum its row of partials in float64, fixed order."""
    k = tl.program_id(0) // N_GROUPS
    grp = tl.program_id(0) % N_GROUPS
    src = part_ptr + (k * G_PAD + grp).to(tl.int64) * n_progs
    acc = tl.zeros([BLOCK], dtype=tl.float64)
    for p0 in range(0, n_progs, BLOCK):
        p = p0 + tl.arange(0, BLOCK)
        acc += tl.load(src + p, mask=p < n_progs, other=0.0).to(tl.float64)
    total = tl.sum(acc, axis=0).to(tl.float32)
    if k < 6:
        tl.store(da_ptr + grp * 6 + k, total)
    else:
        tl.store(db_ptr + grp * 4 + (k - 6), total)


def _grid(rows: int, d: int):  # type: ignore[no-untyped-def]
    """Programs for a launch: row tiles (of BLOCK_R * ROW_ITERS rows) x channel tiles."""
    return lambda meta: (triton.cdiv(rows, meta["BLOCK_R"] * meta.get("ROW_ITERS", 1)),
                         triton.cdiv(d, meta["BLOCK_C"]))


def forward(x: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    y = torch.empty_like(x)
    rows, d = x.shape
    meta = INTERPRETER_FWD if interpreting() else {}
    _rational_fwd_kernel[_grid(rows, d)](x, a, b, y, rows, d, d // a.shape[0], **meta)
    return y


def _backward(x: torch.Tensor, dy: torch.Tensor, a: torch.Tensor, b: torch.Tensor, deterministic: bool
              ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    rows, d = x.shape
    groups = a.shape[0]
    g_pad = triton.next_power_of_2(groups)
    dx = torch.empty_like(x)
    if deterministic:
        # Sized for the most programs any candidate tile launches; unused slots are never read.
        tiles = [(m["BLOCK_R"], m["BLOCK_C"], m["ROW_ITERS"]) for m in [INTERPRETER_BWD]] if interpreting() \
            else [(r, c, i) for r, c, _, i in BWD_TILES]
        max_progs = max(triton.cdiv(rows, r * i) * triton.cdiv(d, c) for r, c, i in tiles)
        part = torch.empty(10 * g_pad * max_progs, dtype=torch.float32, device=x.device)
        da = torch.empty_like(a, dtype=torch.float32)
        db = torch.empty_like(b, dtype=torch.float32)
    else:
        part = torch.empty(1, dtype=torch.float32, device=x.device)
        da = torch.zeros_like(a, dtype=torch.float64)  # fp64 atomics: sums of thousands of programs
        db = torch.zeros_like(b, dtype=torch.float64)
    meta = INTERPRETER_BWD if interpreting() else {}
    _rational_bwd_kernel[_grid(rows, d)](
        x, dy, a, b, dx, part, da, db, rows, d, d // groups, groups,
        G_PAD=g_pad, DETERMINISTIC=deterministic, **meta)
    if deterministic:
        tiles = meta or _rational_bwd_kernel.best_config.kwargs  # type: ignore[attr-defined]
        n_progs = triton.cdiv(rows, tiles["BLOCK_R"] * tiles["ROW_ITERS"]) * triton.cdiv(d, tiles["BLOCK_C"])
        _reduce_partials_kernel[(10 * groups,)](part, da, db, n_progs, groups, G_PAD=g_pad, BLOCK=REDUCE_BLOCK)
        return dx, da, db
    return dx, da.float(), db.float()


def backward(x: torch.Tensor, dy: torch.Tensor, a: torch.Tensor, b: torch.Tensor
             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    return _backward(x, dy, a, b, deterministic=False)


def backward_deterministic(x: torch.Tensor, dy: torch.Tensor, a: torch.Tensor, b: torch.Tensor
                           ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    return _backward(x, dy, a, b, deterministic=True)


_DTYPES = ("float32", "float16", "bfloat16")
kbench_rational = register(
    "rational", "kbench_triton", requires=("triton",), dtypes=_DTYPES,
    description="kbench: elementwise tiles, per-group sums in registers, one atomic per touched group",
)(make_function("kbench_triton", forward, backward))
kbench_rational_deterministic = register(
    "rational", "kbench_triton_det", requires=("triton",), dtypes=_DTYPES,
    description="kbench, deterministic: per-program group partials, fixed-order float64 reduction kernel",
)(make_function("kbench_triton_det", forward, backward_deterministic))
