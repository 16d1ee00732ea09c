"""The authors' chunked GLA kernel from `flash-linear-attention` (fla-core; kbench[seqmix]).

Its Triton kernels autotune by benchmarking and do not run in Triton's interpreter (fla-core
0.6.0 fails there on an integer it casts), so on a CPU it is skipped by its requirements."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from kbench.registry import register


def limits(case: Mapping[str, Any]) -> str | None:
    d = int(case["shape"][3])
    return None if d <= 256 else f"takes head widths up to 256 (got {d})"


@register("gla", "fla_chunk", requires=("cuda", "triton", "module:fla"), dtypes=("float32", "bfloat16"),
          limits=limits, description="fla.ops.gla.chunk_gla (flash-linear-attention), the authors' Triton kernel")
def gla_chunk(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    from fla.ops.gla import chunk_gla

    o, _ = chunk_gla(q, k, v, g, scale=q.shape[-1] ** -0.5)
    return o
