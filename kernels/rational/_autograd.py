"""One autograd seam for every hand-written rational kernel.

A kernel file supplies `forward(x2d, a, b) -> y2d` and `backward(x2d, dy2d, a, b) -> (dx2d, da, db)`
on a (rows, D) view; this wraps them into a function with the reference's signature.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

Forward = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
Backward = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor],
                    tuple[torch.Tensor, torch.Tensor, torch.Tensor]]


KERNEL_DTYPES = (torch.float32, torch.float16, torch.bfloat16)


def check_args(x: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> None:
    """Shapes, and dtypes the kernels compute exactly: anything else is refused, never downcast."""
    if x.dtype not in KERNEL_DTYPES:
        raise TypeError(f"x: the kernels take float32, float16 or bfloat16, got {x.dtype} (it is not computed "
                        "in another dtype)")
    if a.dtype != torch.float32 or b.dtype != torch.float32:
        raise TypeError(f"coefficients: the kernels take float32, got {a.dtype} and {b.dtype}")
    groups = a.shape[0]
    if a.shape != (groups, 6) or b.shape != (groups, 4):
        raise ValueError(f"coefficients: expected a (G, 6) and b (G, 4), got {tuple(a.shape)} and {tuple(b.shape)}")
    if x.shape[-1] % groups:
        raise ValueError(f"x: last dimension {x.shape[-1]} is not divisible by {groups} groups")


def make_function(name: str, forward: Forward, backward: Backward) -> Callable[..., torch.Tensor]:
    """An autograd-enabled `f(x, a, b)` built from 2-D forward and backward launchers."""

    class _Fn(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, x: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
            check_args(x, a, b)
            x2 = x.contiguous().view(-1, x.shape[-1])  # (..., D) -> (rows, D)
            a32, b32 = a.contiguous(), b.contiguous()
            ctx.save_for_backward(x2, a32, b32)
            ctx.shape, ctx.coeff_dtypes = x.shape, (a.dtype, b.dtype)
            return forward(x2, a32, b32).view(x.shape)

        @staticmethod
        def backward(ctx: Any, dy: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
            x2, a32, b32 = ctx.saved_tensors
            dx, da, db = backward(x2, dy.contiguous().view(x2.shape), a32, b32)
            return dx.view(ctx.shape), da.to(ctx.coeff_dtypes[0]), db.to(ctx.coeff_dtypes[1])

    _Fn.__name__ = _Fn.__qualname__ = f"{name}_function"

    def apply(x: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return _Fn.apply(x, a, b)  # type: ignore[no-any-return]

    apply.__name__ = name
    return apply
