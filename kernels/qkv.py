"""Inputs shared by the attention-like operations (causal softmax attention, neighborhood attention,
Lightning Attention): q, k, v and the output's gradient, all of one shape, standard normal."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from kbench.registry import OpInputs, Pass


def qkv_inputs(case: Mapping[str, Any], device: torch.device, dtype: torch.dtype, seed: int,
               options: Mapping[str, Any] | None = None) -> OpInputs:
    """q, k, v (leaves needing gradients) and dO of the case's shape, drawn in float32 on `device`
    in that order from one seeded generator, then cast to `dtype`."""
    shape = tuple(int(d) for d in case["shape"])
    gen = torch.Generator(device=device).manual_seed(seed)

    def normal() -> torch.Tensor:
        return torch.randn(shape, generator=gen, device=device, dtype=torch.float32).to(dtype)

    q, k, v = (normal().requires_grad_() for _ in range(3))
    return OpInputs(args=(q, k, v), grad_output=normal(), options=dict(options or {}))


def qkv_bytes(case: Mapping[str, Any], pass_: Pass, dtype: torch.dtype) -> int:
    """q, k, v read and the output written; backward: those, the output's gradient, three gradients."""
    n = 1
    for d in case["shape"]:
        n *= int(d)
    return {"fwd": 4, "bwd": 7, "fwd+bwd": 11}[pass_] * n * torch.tensor([], dtype=dtype).element_size()
