"""The authors' fused neighborhood attention kernels, from the `natten` package. natten ships as
source that builds against CUDA (0.21.7 has no wheel for a CPU host): where it is not importable
the claims that need it are skipped by their requirements, saying so."""

from __future__ import annotations

import torch

from kbench.registry import register


@register("neighborhood_attention", "natten_fused", requires=("cuda", "module:natten"),
          dtypes=("float32", "float16", "bfloat16"),
          description="natten.functional.na1d / na2d (NATTEN's fused kernels)")
def natten_fused(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, window: int, dilation: int) -> torch.Tensor:
    from natten import functional

    attend = functional.na1d if q.dim() == 4 else functional.na2d
    return attend(q, k, v, kernel_size=window, dilation=dilation)
