"""Dense and gathered PyTorch versions of the sparse FFN: the reference and the obvious baselines."""

from __future__ import annotations

import torch

from kbench.registry import register

DTYPES = ("float32", "float16", "bfloat16", "float64")


@register("sparse_ffn", "torch_dense", dtypes=DTYPES,
          description="dense: both matrix-vector products over every neuron (what an FFN does without sparsity)")
def dense(x: torch.Tensor, a: torch.Tensor, w_up: torch.Tensor, w_down_t: torch.Tensor) -> torch.Tensor:
    return w_down_t.T @ ((w_up @ x) * a)


@register("sparse_ffn", "torch_gather", dtypes=DTYPES,
          description="PyTorch: the active neurons' indices, their rows gathered, two small products")
def gathered(x: torch.Tensor, a: torch.Tensor, w_up: torch.Tensor, w_down_t: torch.Tensor) -> torch.Tensor:
    idx = a.nonzero().squeeze(1)
    return w_down_t[idx].T @ ((w_up[idx] @ x) * a[idx])
