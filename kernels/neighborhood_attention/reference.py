"""Two PyTorch neighborhood attentions: a gather of each query's own keys and values (the
reference, run in float64, and the naive kernels' work: memory grows with tokens x window, so
the float64 reference fits at the paper's sizes), and every query against every key with the
others masked out (two GEMMs and a mask: memory grows with tokens squared)."""

from __future__ import annotations

import torch

from kbench.registry import register
from kernels.neighborhood_attention.ops import neighbours


def _axes_neighbours(spatial: tuple[int, ...], window: int, dilation: int, device: torch.device) -> torch.Tensor:
    """[tokens, window ** axes]: the flat token index of every neighbour of every token."""
    index = torch.zeros((1, 1), dtype=torch.long, device=device)
    for n in spatial:  # row-major: a token's index is x * Y + y
        axis = neighbours(n, window, dilation, device)
        index = (index[:, None, :, None] * n + axis[None, :, None, :]).reshape(index.shape[0] * n, -1)
    return index


def _tokens(t: torch.Tensor) -> torch.Tensor:
    """[B, *spatial, H, D] -> [B, H, tokens, D]."""
    return t.flatten(1, -3).transpose(1, 2)


@register("neighborhood_attention", "dense_masked", dtypes=("float32", "float16", "bfloat16", "float64"),
          description="every query against every key, the keys outside its neighbourhood masked (PyTorch)")
def dense_masked(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, window: int, dilation: int) -> torch.Tensor:
    spatial = tuple(q.shape[1:-2])
    index = _axes_neighbours(spatial, window, dilation, q.device)
    allowed = torch.zeros(index.shape[0], index.shape[0], dtype=torch.bool, device=q.device)
    allowed.scatter_(1, index, True)
    scores = (_tokens(q) @ _tokens(k).transpose(-1, -2)) * q.shape[-1] ** -0.5
    weights = torch.softmax(scores.masked_fill(~allowed, float("-inf")), dim=-1)
    return (weights @ _tokens(v)).transpose(1, 2).reshape(q.shape)


@register("neighborhood_attention", "gather", dtypes=("float32", "float16", "bfloat16", "float64"),
          description="each query's window of keys and values gathered, then attention over it (PyTorch; the "
                      "naive kernels' computation)")
def gather(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, window: int, dilation: int) -> torch.Tensor:
    spatial = tuple(q.shape[1:-2])
    index = _axes_neighbours(spatial, window, dilation, q.device)  # [tokens, neighbours]
    qt, kt, vt = _tokens(q), _tokens(k), _tokens(v)  # [B, H, tokens, D]
    keys, values = kt[:, :, index], vt[:, :, index]  # [B, H, tokens, neighbours, D]
    scores = (keys @ qt.unsqueeze(-1)).squeeze(-1) * q.shape[-1] ** -0.5
    out = (torch.softmax(scores, dim=-1).unsqueeze(-2) @ values).squeeze(-2)
    return out.transpose(1, 2).reshape(q.shape)
