"""kbench's own GR-KAN kernels in Triton: one pass over memory, exact, optionally deterministic.

Idea (v4 in docs/kernel-log.md): a tile never straddles a group. A program owns BLOCK_C channels of
one group and a run of rows, so its 10 coefficients are scalars, not per-column vectors: v3's tiles
could mix groups and needed 221 to 255 registers a thread on sm_90, and spilled in bf16
(`python -m kernels.rational.resources`). BLOCK_C is the largest power of two up to 32 that divides
the group width (32 at KAT's 96 and 192); other widths get masked tiles.

The backward keeps element-wise gradient sums over ROW_ITERS row tiles in registers (the row loop
is software-pipelined by Triton over NUM_STAGES), reduces them to 10 numbers once at the end, and:

- deterministic mode: writes them to the program's own slot of a (10, G, programs per group)
  partials buffer, summed in float64 by a second small kernel in a fixed order -> coefficient
  gradients identical bit for bit from run to run, no atomics;
- atomic mode: 10 float64 atomic adds per program into dA and dB.

Traffic: forward reads x once and writes y once; backward reads x and dy once and writes dx once;
the partials are 10 floats per program. Inputs and outputs may be fp32, fp16 or bf16; arithmetic
and coefficient gradients are fp32 (the final sums fp64). The row count is a run-time argument that
is not specialised: a new batch size compiles nothing. On a GPU the tiles, warps and pipeline depth
are autotuned once per (D, group width, dtype).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import triton
import triton.language as tl

from kbench.devices import interpreting
from kbench.registry import register
from kernels.rational._autograd import make_function
from kernels.rational._triton_math import rational_fwd, rational_vjp

# Forward tiles: (BLOCK_R, num_warps); BLOCK_C follows from the group width (tile_columns).
FWD_TILES = [(32, 4), (64, 4), (64, 8), (128, 8)]
# Backward tiles: (BLOCK_R, num_warps, ROW_ITERS, NUM_STAGES). ROW_ITERS row tiles per program keep
# element-wise sums in registers, so the cross-thread reduction runs once per program; the row loop's
# loads go through NUM_STAGES shared-memory buffers (cp.async), so later rows load while one computes.
BWD_TILES = [(16, 4, 8, 3), (16, 4, 16, 3), (32, 4, 8, 3), (32, 8, 8, 3), (8, 2, 16, 4), (64, 8, 4, 2)]
# The interpreter (CPU tests) runs small tiles that still loop over rows, so that a few rows make
# several programs; past 512 rows the tiles grow (the interpreter's cost is per program).
INTERPRETER_FWD = {"BLOCK_R": 32}
INTERPRETER_BWD = {"BLOCK_R": 8, "ROW_ITERS": 2, "NUM_STAGES": 2}
INTERPRETER_FWD_LARGE = {"BLOCK_R": 256}
INTERPRETER_BWD_LARGE = {"BLOCK_R": 64, "ROW_ITERS": 2, "NUM_STAGES": 2}
_last_interpreted: dict[str, dict[str, int]] = {}


def interpreter_tiles(rows: int, backward: bool) -> dict[str, int]:
    """The tiles the interpreter launches for `rows` rows (recorded for launch_config)."""
    large = rows > 512
    tiles = (INTERPRETER_BWD_LARGE if large else INTERPRETER_BWD) if backward else \
        (INTERPRETER_FWD_LARGE if large else INTERPRETER_FWD)
    _last_interpreted["bwd" if backward else "fwd"] = tiles
    return tiles
REDUCE_BLOCK = 512


def tile_columns(group_width: int) -> int:
    """BLOCK_C: the largest power of two up to 32 dividing the group width, else a masked tile.

    32 channels are a 128-byte fp32 row segment; 64 would double every thread's share of a tile and
    its registers (up to 255 at the group width 192, sm_90), for no gain in how memory is read."""
    divisor = min(group_width & -group_width, 32)  # lowest set bit: the largest power-of-two divisor
    return divisor if divisor >= 16 else min(32, triton.next_power_of_2(group_width))


def _autotuned(configs: list[triton.Config], **kwargs: object):  # type: ignore[no-untyped-def]
    """Autotune on a GPU; in the interpreter, a plain kernel (launchers pass INTERPRETER_*)."""
    if interpreting():
        return lambda fn: fn
    return triton.autotune(configs=configs, key=["D", "D_PER_GROUP"], **kwargs)  # type: ignore[arg-type]


_FWD_CONFIGS = [triton.Config({"BLOCK_R": r}, num_warps=w) for r, w in FWD_TILES]
_BWD_CONFIGS = [triton.Config({"BLOCK_R": r, "ROW_ITERS": i, "NUM_STAGES": st}, num_warps=w, num_stages=st)
                for r, w, i, st in BWD_TILES]


@triton.jit
def _group_tile(a_ptr, b_ptr, D_PER_GROUP, TILES_PER_GROUP, N_GROUPS, BLOCK_C: tl.constexpr):
    """The program's row tile, its group, its tile in the group, its BLOCK_C channels (masked past
    the group's end), and the group's 10 coefficients as scalars.

    One grid axis, column tiles fastest: programs launched together cover whole rows, so together
    they read memory front to back, as it lies."""
    col_tiles = N_GROUPS * TILES_PER_GROUP
    row_tile = tl.program_id(0) // col_tiles
    g = tl.program_id(0) % col_tiles // TILES_PER_GROUP
    tile = tl.program_id(0) % TILES_PER_GROUP
    in_group = tile * BLOCK_C + tl.arange(0, BLOCK_C)
    cols = g * D_PER_GROUP + in_group
    a = a_ptr + g * 6
    b = b_ptr + g * 4
    return (row_tile, g, tile, cols, in_group < D_PER_GROUP,
            tl.load(a), tl.load(a + 1), tl.load(a + 2), tl.load(a + 3), tl.load(a + 4), tl.load(a + 5),
            tl.load(b), tl.load(b + 1), tl.load(b + 2), tl.load(b + 3))


@_autotuned(_FWD_CONFIGS)
@triton.jit(do_not_specialize=["n_rows"])
def _rational_fwd_kernel(
    x_ptr, a_ptr, b_ptr, y_ptr,
    n_rows, D, D_PER_GROUP, TILES_PER_GROUP, N_GROUPS,
    BLOCK_R: tl.constexpr, BLOCK_C: tl.constexpr,
):
    row_tile, g, tile, cols, col_mask, a0, a1, a2, a3, a4, a5, b0, b1, b2, b3 = _group_tile(
        a_ptr, b_ptr, D_PER_GROUP, TILES_PER_GROUP, N_GROUPS, BLOCK_C)
    rows = row_tile * BLOCK_R + tl.arange(0, BLOCK_R)
    mask = (rows[:, None] < n_rows) & col_mask[None, :]
    offs = rows[:, None].to(tl.int64) * D + cols[None, :]  # (BLOCK_R, BLOCK_C); int64: > 2^31 elements
    x = tl.load(x_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    y = rational_fwd(x, a0, a1, a2, a3, a4, a5, b0, b1, b2, b3)
    tl.store(y_ptr + offs, y.to(y_ptr.dtype.element_ty), mask=mask)


@triton.jit
def _emit(part_ptr, k, total, slot, n_slots, g, N_GROUPS, da_ptr, db_ptr, DETERMINISTIC: tl.constexpr):
    """Coefficient k's sum over the program: to its slot of the partials, or atomically in float64."""
    if DETERMINISTIC:
        tl.store(part_ptr + (k * N_GROUPS + g).to(tl.int64) * n_slots + slot, total)
    else:
        if k < 6:
            tl.atomic_add(da_ptr + g * 6 + k, total.to(tl.float64))
        else:
            tl.atomic_add(db_ptr + g * 4 + (k - 6), total.to(tl.float64))


@_autotuned(_BWD_CONFIGS, reset_to_zero=["da_ptr", "db_ptr"])
@triton.jit(do_not_specialize=["n_rows"])
def _rational_bwd_kernel(
    x_ptr, dy_ptr, a_ptr, b_ptr, dx_ptr,
    part_ptr,  # deterministic: (10, G, programs per group) partials, every slot written
    da_ptr, db_ptr,  # atomic mode: (G, 6) and (G, 4) float64, zeroed
    n_rows, D, D_PER_GROUP, TILES_PER_GROUP, N_GROUPS,
    DETERMINISTIC: tl.constexpr, BLOCK_R: tl.constexpr, BLOCK_C: tl.constexpr, ROW_ITERS: tl.constexpr,
    NUM_STAGES: tl.constexpr,
):
    row_tile, g, tile, cols, col_mask, a0, a1, a2, a3, a4, a5, b0, b1, b2, b3 = _group_tile(
        a_ptr, b_ptr, D_PER_GROUP, TILES_PER_GROUP, N_GROUPS, BLOCK_C)
    zero = tl.zeros([BLOCK_R, BLOCK_C], dtype=tl.float32)
    s_a0, s_a1, s_a2, s_a3, s_a4, s_a5 = zero, zero, zero, zero, zero, zero
    s_b0, s_b1, s_b2, s_b3 = zero, zero, zero, zero
    for it in tl.range(ROW_ITERS, num_stages=NUM_STAGES):  # explicit: Triton pipelines this loop's loads
        rows = (row_tile * ROW_ITERS + it) * BLOCK_R + tl.arange(0, BLOCK_R)
        mask = (rows[:, None] < n_rows) & col_mask[None, :]
        offs = rows[:, None].to(tl.int64) * D + cols[None, :]
        x = tl.load(x_ptr + offs, mask=mask, other=0.0).to(tl.float32)
        gr = tl.load(dy_ptr + offs, mask=mask, other=0.0).to(tl.float32)  # masked lanes add gr = 0
        dx, da0, da1, da2, da3, da4, da5, db0, db1, db2, db3 = rational_vjp(
            x, gr, a0, a1, a2, a3, a4, a5, b0, b1, b2, b3)
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
    # This program's slot among its group's programs: (row program, tile within the group).
    slot = row_tile * TILES_PER_GROUP + tile
    n_slots = tl.num_programs(0) // N_GROUPS  # row tiles x tiles per group
    _emit(part_ptr, 0, tl.sum(s_a0), slot, n_slots, g, N_GROUPS, da_ptr, db_ptr, DETERMINISTIC)
    _emit(part_ptr, 1, tl.sum(s_a1), slot, n_slots, g, N_GROUPS, da_ptr, db_ptr, DETERMINISTIC)
    _emit(part_ptr, 2, tl.sum(s_a2), slot, n_slots, g, N_GROUPS, da_ptr, db_ptr, DETERMINISTIC)
    _emit(part_ptr, 3, tl.sum(s_a3), slot, n_slots, g, N_GROUPS, da_ptr, db_ptr, DETERMINISTIC)
    _emit(part_ptr, 4, tl.sum(s_a4), slot, n_slots, g, N_GROUPS, da_ptr, db_ptr, DETERMINISTIC)
    _emit(part_ptr, 5, tl.sum(s_a5), slot, n_slots, g, N_GROUPS, da_ptr, db_ptr, DETERMINISTIC)
    _emit(part_ptr, 6, tl.sum(s_b0), slot, n_slots, g, N_GROUPS, da_ptr, db_ptr, DETERMINISTIC)
    _emit(part_ptr, 7, tl.sum(s_b1), slot, n_slots, g, N_GROUPS, da_ptr, db_ptr, DETERMINISTIC)
    _emit(part_ptr, 8, tl.sum(s_b2), slot, n_slots, g, N_GROUPS, da_ptr, db_ptr, DETERMINISTIC)
    _emit(part_ptr, 9, tl.sum(s_b3), slot, n_slots, g, N_GROUPS, da_ptr, db_ptr, DETERMINISTIC)


@triton.jit
def _reduce_partials_kernel(part_ptr, da_ptr, db_ptr, n_slots, N_GROUPS, BLOCK: tl.constexpr):
    """One program per (coefficient, group): sum its row of partials in float64, fixed order."""
    k = tl.program_id(0) // N_GROUPS
    grp = tl.program_id(0) % N_GROUPS
    src = part_ptr + tl.program_id(0).to(tl.int64) * n_slots  # row k * G + grp
    acc = tl.zeros([BLOCK], dtype=tl.float64)
    for p0 in range(0, n_slots, BLOCK):
        p = p0 + tl.arange(0, BLOCK)
        acc += tl.load(src + p, mask=p < n_slots, other=0.0).to(tl.float64)
    total = tl.sum(acc, axis=0).to(tl.float32)
    if k < 6:
        tl.store(da_ptr + grp * 6 + k, total)
    else:
        tl.store(db_ptr + grp * 4 + (k - 6), total)


def _tiles_per_group(group_width: int) -> int:
    return triton.cdiv(group_width, tile_columns(group_width))


def _grid(rows: int, groups: int, group_width: int):  # type: ignore[no-untyped-def]
    """Programs for a launch, on one axis: row tiles (of BLOCK_R * ROW_ITERS rows) x (group, tile in group)."""
    return lambda meta: (triton.cdiv(rows, meta["BLOCK_R"] * meta.get("ROW_ITERS", 1))
                         * groups * _tiles_per_group(group_width),)


def forward(x: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    y = torch.empty_like(x)
    rows, d = x.shape
    groups = a.shape[0]
    dg = d // groups
    meta = interpreter_tiles(rows, backward=False) if interpreting() else {}
    _rational_fwd_kernel[_grid(rows, groups, dg)](x, a, b, y, rows, d, dg, _tiles_per_group(dg), groups,
                                                  BLOCK_C=tile_columns(dg), **meta)
    return y


def _backward(x: torch.Tensor, dy: torch.Tensor, a: torch.Tensor, b: torch.Tensor, deterministic: bool
              ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    rows, d = x.shape
    groups = a.shape[0]
    dg = d // groups
    per_group = _tiles_per_group(dg)
    dx = torch.empty_like(x)
    meta = interpreter_tiles(rows, backward=True) if interpreting() else {}
    if deterministic:
        # Sized for the most programs any candidate tile launches; unused slots are never read.
        candidates = [(meta["BLOCK_R"], meta["ROW_ITERS"])] if meta else [(r, i) for r, _, i, _ in BWD_TILES]
        max_slots = max(triton.cdiv(rows, r * i) for r, i in candidates) * per_group
        part = torch.empty(10 * groups * max_slots, dtype=torch.float32, device=x.device)
        da = torch.empty_like(a, dtype=torch.float32)
        db = torch.empty_like(b, dtype=torch.float32)
    else:
        part = torch.empty(1, dtype=torch.float32, device=x.device)
        da = torch.zeros_like(a, dtype=torch.float64)  # fp64 atomics: sums of thousands of programs
        db = torch.zeros_like(b, dtype=torch.float64)
    _rational_bwd_kernel[_grid(rows, groups, dg)](
        x, dy, a, b, dx, part, da, db, rows, d, dg, per_group, groups,
        DETERMINISTIC=deterministic, BLOCK_C=tile_columns(dg), **meta)
    if deterministic:
        chosen = meta or _rational_bwd_kernel.best_config.kwargs  # the autotuner's pick on a GPU
        n_slots = triton.cdiv(rows, chosen["BLOCK_R"] * chosen["ROW_ITERS"]) * per_group
        _reduce_partials_kernel[(10 * groups,)](part, da, db, n_slots, groups, BLOCK=REDUCE_BLOCK)
        return dx, da, db
    return dx, da.float(), db.float()


def backward(x: torch.Tensor, dy: torch.Tensor, a: torch.Tensor, b: torch.Tensor
             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    return _backward(x, dy, a, b, deterministic=False)


def backward_deterministic(x: torch.Tensor, dy: torch.Tensor, a: torch.Tensor, b: torch.Tensor
                           ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    return _backward(x, dy, a, b, deterministic=True)


def launch_config() -> dict[str, str]:
    """The tiles of the last forward and backward launch: the autotuner's pick on a GPU."""
    if interpreting():
        return {name: str(tiles) for name, tiles in _last_interpreted.items()}
    picks = {"fwd": getattr(_rational_fwd_kernel, "best_config", None),
             "bwd": getattr(_rational_bwd_kernel, "best_config", None)}
    return {name: str(config) for name, config in picks.items() if config is not None}


_DTYPES = ("float32", "float16", "bfloat16")
kbench_rational = register(
    "rational", "kbench_triton", requires=("triton",), dtypes=_DTYPES, launch_config=launch_config,
    description="kbench: one-group tiles with scalar coefficients, register sums, fp64 atomics per program",
)(make_function("kbench_triton", forward, backward))
kbench_rational_deterministic = register(
    "rational", "kbench_triton_det", requires=("triton",), dtypes=_DTYPES, launch_config=launch_config,
    description="kbench, deterministic: per-program partials, fixed-order float64 reduction kernel",
)(make_function("kbench_triton_det", forward, backward_deterministic))


@dataclass
class StaticSpec:
    """One compile of a kernel for kernels.rational.resources: what to call triton.compile with."""

    kernel: str
    config: str
    compile_args: dict[str, Any]
    loop_elements: int = -1  # elements a thread handles per trip through the kernel's row loop


def static_specs(triton_dtype: str, group_width: int = 96) -> list[StaticSpec]:
    """Every autotune candidate of the forward and the deterministic backward, specialised as a launch
    at KAT's widths would be (pointers, D and the group width divisible by 16), then the atomic
    backward and the reduction kernel once each."""
    def jit(kernel: Any) -> Any:  # the JIT function under an autotuner
        return kernel.fn if isinstance(kernel, triton.runtime.Autotuner) else kernel

    fwd, bwd = jit(_rational_fwd_kernel), jit(_rational_bwd_kernel)
    block_c = tile_columns(group_width)
    tensor = f"*{triton_dtype}"  # other pointers are fp32 unless named here
    divisible = ("D", "D_PER_GROUP")
    specs = [StaticSpec("triton kbench_fwd", f"BLOCK_R={r} BLOCK_C={block_c} warps={w}", {
        "fn": fwd, "pointers": {"x_ptr": tensor, "y_ptr": tensor}, "constexprs": {"BLOCK_R": r, "BLOCK_C": block_c},
        "num_warps": w, "divisible": divisible}) for r, w in FWD_TILES]
    specs += [StaticSpec("triton kbench_bwd", f"BLOCK_R={r} BLOCK_C={block_c} warps={w} ROW_ITERS={i} stages={st}", {
        "fn": bwd, "num_warps": w, "num_stages": st, "divisible": divisible,
        "pointers": {"x_ptr": tensor, "dy_ptr": tensor, "dx_ptr": tensor, "da_ptr": "*fp64", "db_ptr": "*fp64"},
        "constexprs": {"DETERMINISTIC": True, "BLOCK_R": r, "BLOCK_C": block_c, "ROW_ITERS": i, "NUM_STAGES": st}},
        r * block_c // (32 * w)) for r, w, i, st in BWD_TILES]
    # The other GPU code paths, compiled once each: the atomic mode and the float64 reduction.
    first = specs[len(FWD_TILES)].compile_args
    specs.append(StaticSpec("triton kbench_bwd atomic", specs[len(FWD_TILES)].config,
                            {**first, "constexprs": {**first["constexprs"], "DETERMINISTIC": False}},
                            specs[len(FWD_TILES)].loop_elements))
    specs.append(StaticSpec("triton kbench_reduce", f"BLOCK={REDUCE_BLOCK}", {
        "fn": jit(_reduce_partials_kernel), "num_warps": 4, "constexprs": {"BLOCK": REDUCE_BLOCK},
        "pointers": {}, "divisible": ()}))
    return specs
