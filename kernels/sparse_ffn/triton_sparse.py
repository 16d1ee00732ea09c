"""kbench's Triton sparse FFN: one program per block of neurons, inactive rows never read.

Each program takes BLOCK_N neurons. If none is active it does nothing; otherwise it computes
u = (W_up[rows] . x) * a[rows] with the inactive rows masked out of every load (a masked load
issues no memory request, so only active rows cost bandwidth), then adds W_down_t[rows]^T u to y
in float32 with atomics. There is no index list to build, so no host synchronisation.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from kbench.registry import register

BLOCK_N = 16
BLOCK_D = 128


@triton.jit
def _sparse_ffn(x_ptr, a_ptr, wu_ptr, wd_ptr, y_ptr, H, D,  # noqa: ANN001 (Triton arguments)
                BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr):  # noqa: N803
    rows = tl.program_id(0) * BLOCK_N + tl.arange(0, BLOCK_N)
    a = tl.load(a_ptr + rows, mask=rows < H, other=0.0).to(tl.float32)
    active = a != 0.0
    if tl.sum(active.to(tl.int32), axis=0) > 0:
        u = tl.zeros([BLOCK_N], dtype=tl.float32)
        for d0 in range(0, D, BLOCK_D):
            cols = d0 + tl.arange(0, BLOCK_D)
            x = tl.load(x_ptr + cols, mask=cols < D, other=0.0).to(tl.float32)
            w = tl.load(wu_ptr + rows[:, None] * D + cols[None, :], mask=active[:, None] & (cols[None, :] < D),
                        other=0.0).to(tl.float32)
            u += tl.sum(w * x[None, :], axis=1)
        u = u * a
        for d0 in range(0, D, BLOCK_D):
            cols = d0 + tl.arange(0, BLOCK_D)
            w = tl.load(wd_ptr + rows[:, None] * D + cols[None, :], mask=active[:, None] & (cols[None, :] < D),
                        other=0.0).to(tl.float32)
            tl.atomic_add(y_ptr + cols, tl.sum(w * u[:, None], axis=0), mask=cols < D)


def launch_config() -> dict[str, str]:
    return {"BLOCK_N": str(BLOCK_N), "BLOCK_D": str(BLOCK_D)}


@register("sparse_ffn", "triton_sparse", requires=("triton",), dtypes=("float32", "float16", "bfloat16"),
          launch_config=launch_config,
          description="kbench: blocks of neurons, inactive rows masked out of every load, float32 atomics")
def sparse_ffn(x: torch.Tensor, a: torch.Tensor, w_up: torch.Tensor, w_down_t: torch.Tensor) -> torch.Tensor:
    h, d = w_up.shape
    if x.shape != (d,) or a.shape != (h,) or w_down_t.shape != (h, d):
        raise ValueError(f"shapes x {tuple(x.shape)}, a {tuple(a.shape)}, w_up {tuple(w_up.shape)}, w_down_t "
                         f"{tuple(w_down_t.shape)}: expected (d,), (h,), (h, d), (h, d)")
    y = torch.zeros(d, device=x.device, dtype=torch.float32)
    _sparse_ffn[(triton.cdiv(h, BLOCK_N),)](x.contiguous(), a.contiguous(), w_up.contiguous(),
                                            w_down_t.contiguous(), y, h, d, BLOCK_N=BLOCK_N, BLOCK_D=BLOCK_D)
    return y.to(x.dtype)

