"""Two PyTorch forms of decayed causal linear attention: the masked one (every query against
every earlier key, the decay as a mask: the reference, run in float64, quadratic in T like the
left-product implementations before Lightning Attention), and the paper's own split into blocks
(attention inside a block, the carried state across blocks), written in PyTorch by kbench."""

from __future__ import annotations

import torch

from kbench.registry import register
from kernels.lightning_attn.ops import decay_logs

BLOCK = 64  # the block of the split form


def _working(t: torch.Tensor) -> torch.Tensor:
    """[B, T, H, D] -> [B, H, T, D] in float32 (float64 kept)."""
    return t.transpose(1, 2).to(torch.float64 if t.dtype == torch.float64 else torch.float32)


@register("lightning_attention", "masked", dtypes=("float32", "bfloat16", "float64"),
          description="(q k^T * decay mask) v: every query against every earlier key (PyTorch, quadratic in T)")
def masked(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    qh, kh, vh = _working(q), _working(k), _working(v)
    t = torch.arange(q.shape[1], device=q.device)
    gap = (t[:, None] - t[None, :]).to(qh.dtype)
    g = decay_logs(q.shape[2], q.device, qh.dtype)[:, None, None]
    mask = torch.where(gap >= 0, torch.exp(g * gap.clamp(min=0)), torch.zeros((), dtype=qh.dtype, device=q.device))
    o = ((qh @ kh.transpose(-1, -2)) * mask) @ vh * q.shape[-1] ** -0.5
    return o.transpose(1, 2).to(q.dtype)


@register("lightning_attention", "blocks_torch", dtypes=("float32", "bfloat16", "float64"),
          description=f"Lightning Attention's split in PyTorch: attention inside blocks of {BLOCK}, the decayed "
                      "state carried across them (kbench's)")
def blocks_torch(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    qh, kh, vh = _working(q) * q.shape[-1] ** -0.5, _working(k), _working(v)
    b, h, n, d = qh.shape
    g = decay_logs(h, q.device, qh.dtype)[:, None]  # [H, 1]
    state = qh.new_zeros(b, h, d, d)  # sum over earlier keys s of lambda^(start - 1 - s) k_s^T v_s
    out = []
    for start in range(0, n, BLOCK):
        qb, kb, vb = (x[:, :, start:start + BLOCK] for x in (qh, kh, vh))
        i = torch.arange(qb.shape[2], device=q.device, dtype=qh.dtype)
        gap = i[:, None] - i[None, :]
        inside = torch.where(gap >= 0, torch.exp(g[:, :, None] * gap.clamp(min=0)), torch.zeros((), dtype=qh.dtype,
                                                                                                 device=q.device))
        out.append(((qb @ kb.transpose(-1, -2)) * inside) @ vb + (qb * torch.exp(g * (i + 1))[..., None]) @ state)
        carried = torch.exp(g * qb.shape[2])[..., None]
        state = carried * state + (kb * torch.exp(g * (qb.shape[2] - 1 - i))[..., None]).transpose(-1, -2) @ vb
    return torch.cat(out, dim=2).transpose(1, 2).to(q.dtype)
