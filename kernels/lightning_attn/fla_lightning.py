"""The authors' Lightning Attention kernel as `flash-linear-attention` ships it (fla-core's
chunk_lightning_attn, kbench[seqmix]): Triton kernels that autotune by benchmarking and do not run
in Triton's interpreter, so on a CPU it is skipped by its requirements."""

from __future__ import annotations

import torch

from kbench.registry import register


@register("lightning_attention", "fla_lightning", requires=("cuda", "triton", "module:fla"),
          dtypes=("float32", "bfloat16"),
          description="fla.ops.lightning_attn.chunk_lightning_attn, layer 0 of 1 (flash-linear-attention)")
def fla_lightning(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    from fla.ops.lightning_attn import chunk_lightning_attn

    o, _ = chunk_lightning_attn(q, k, v, layer_idx=0, num_layers=1, scale=q.shape[-1] ** -0.5)
    return o
