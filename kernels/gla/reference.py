"""PyTorch forms of both computations: GLA's recurrence step by step (the float64 reference) and
causal softmax attention through scaled_dot_product_attention's math backend (its reference),
plus the flash backend, the FlashAttention-2 kernel that PyTorch ships, as GLA's baseline."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

from kbench.registry import register


@register("gla", "recurrent_torch", dtypes=("float32", "float64"),
          description="GLA's recurrence one step at a time (slow: the reference, not a contender)")
def gla_recurrent(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    b, t, h, d = q.shape
    state = q.new_zeros(b, h, d, v.shape[-1])
    out = []
    for i in range(t):
        state = state * g[:, i].exp()[..., None] + k[:, i][..., None] * v[:, i][..., None, :]
        out.append(torch.einsum("bhk,bhkv->bhv", q[:, i] * d ** -0.5, state))
    return torch.stack(out, dim=1)


def _sdpa(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, backend: SDPBackend) -> torch.Tensor:
    with sdpa_kernel(backend):
        o = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), is_causal=True)
    return o.transpose(1, 2)


@register("causal_attention", "sdpa_math", dtypes=("float32", "float64", "bfloat16"),
          description="scaled_dot_product_attention, math backend (the reference)")
def attention_math(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    return _sdpa(q, k, v, SDPBackend.MATH)


@register("causal_attention", "sdpa_flash", requires=("cuda",), dtypes=("bfloat16",),
          description="scaled_dot_product_attention, flash backend (PyTorch's FlashAttention-2 kernel)")
def attention_flash(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    return _sdpa(q, k, v, SDPBackend.FLASH_ATTENTION)
