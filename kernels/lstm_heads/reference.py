"""The LSTM one step at a time in PyTorch: the reference (run in float64 as the judge)."""

from __future__ import annotations

import torch

from kbench.registry import register


@register("lstm_heads", "torch_loop", dtypes=("float32", "float64", "bfloat16"),
          description="a Python loop over time steps, one einsum and the pointwise gates per step")
def lstm_loop(wx: torch.Tensor, r: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    batch, steps, _, heads, width = wx.shape
    y = wx.new_zeros(batch, heads, width)
    c = torch.zeros_like(y)
    out = []
    for t in range(steps):
        i, f, z, o = (wx[:, t] + torch.einsum("ghdp,bhp->bghd", r, y) + b).unbind(1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(z)
        y = torch.sigmoid(o) * torch.tanh(c)
        out.append(y)
    return torch.stack(out, dim=1)
