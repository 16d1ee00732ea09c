"""A tiny decoder-only language model by keyword: the subject of activation-sparsity laws.

As the Sparsing Law paper's models (notes/sparsity-and-kan.md 1.1), scaled down: pre-norm blocks
(RMSNorm), causal self-attention, and a feed-forward network that is gated, `down(act(gate x) *
up x)`, or plain, `down(act(up x))` (the Lazy Neuron paper's T5/ViT MLPs), with d_ff = ffn_ratio
* d_model (2.5 in the paper). Byte-level: 256 tokens, embeddings tied to the output. Every
feed-forward network's `down` projection reads the activations the sparsity metrics measure
(kbench.sparsity hooks it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from kbench.params import Param
from kbench.registry import ModelFamily, register_model

ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "silu": nn.SiLU, "gelu": nn.GELU}
_BASE: dict[str, Any] = {"vocab": 256, "seq_len": 128, "depth": 4, "heads": 4, "ffn": "gated", "act": "relu",
                         "ffn_ratio": 2.5}
PRESETS: dict[str, dict[str, Any]] = {
    "nano": {**_BASE, "d_model": 32, "depth": 2, "heads": 2, "seq_len": 64},
    "micro": {**_BASE, "d_model": 64, "depth": 2, "heads": 2, "seq_len": 64},
    "tiny": {**_BASE, "d_model": 128},
    "small": {**_BASE, "d_model": 256, "depth": 8},
}
ARCH_KEYS: dict[str, Param] = {
    "vocab": Param(int, "tokens (256: bytes)", low=2, high=1 << 20),
    "seq_len": Param(int, "context length", low=2, high=1 << 16),
    "d_model": Param(int, "residual width (a multiple of heads)", low=2, high=1 << 15),
    "depth": Param(int, "blocks", low=1, high=256),
    "heads": Param(int, "attention heads", low=1, high=256),
    "ffn": Param(str, "feed-forward form", choices=("gated", "plain")),
    "act": Param(str, "the feed-forward activation", choices=tuple(ACTIVATIONS)),
    "ffn_ratio": Param(float, "feed-forward width over d_model", low=0.1, high=64.0),
}


class FeedForward(nn.Module):
    def __init__(self, d_model: int, hidden: int, act: str, gated: bool) -> None:
        super().__init__()
        self.gate = nn.Linear(d_model, hidden, bias=False) if gated else None
        self.up = nn.Linear(d_model, hidden, bias=False)
        self.act = ACTIVATIONS[act]()
        self.down = nn.Linear(hidden, d_model, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.act(self.gate(x)) * self.up(x) if self.gate is not None else self.act(self.up(x))
        return self.down(a)


class Block(nn.Module):
    def __init__(self, d_model: int, heads: int, hidden: int, act: str, gated: bool) -> None:
        super().__init__()
        self.heads = heads
        self.norm1, self.norm2 = nn.RMSNorm(d_model), nn.RMSNorm(d_model)
        self.qkv = nn.Linear(d_model, 3 * d_model, bias=False)
        self.proj = nn.Linear(d_model, d_model, bias=False)
        self.ffn = FeedForward(d_model, hidden, act, gated)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        att = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.proj(att.transpose(1, 2).reshape(b, t, d))
        return x + self.ffn(self.norm2(x))


class TinyLM(nn.Module):
    """Token ids (batch, seq) in, next-token logits (batch, seq, vocab) out."""

    def __init__(self, *, vocab: int, seq_len: int, d_model: int, depth: int, heads: int, ffn: str, act: str,
                 ffn_ratio: float) -> None:
        super().__init__()
        if d_model % heads:
            raise ValueError(f"tiny-lm: d_model {d_model} is not a multiple of heads {heads}")
        if act not in ACTIVATIONS or ffn not in ("gated", "plain"):
            raise ValueError(f"tiny-lm: act must be one of {', '.join(ACTIVATIONS)} and ffn gated or plain")
        hidden = max(1, round(ffn_ratio * d_model))
        self.seq_len = seq_len
        self.embed = nn.Embedding(vocab, d_model)
        self.pos = nn.Parameter(torch.zeros(seq_len, d_model))
        self.blocks = nn.ModuleList(Block(d_model, heads, hidden, act, ffn == "gated") for _ in range(depth))
        self.norm = nn.RMSNorm(d_model)
        nn.init.normal_(self.embed.weight, std=0.02)
        nn.init.normal_(self.pos, std=0.02)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.embed(tokens) + self.pos[: tokens.shape[1]]
        for block in self.blocks:
            x = block(x)
        return self.norm(x) @ self.embed.weight.T

    def ffn_downs(self) -> list[nn.Linear]:
        """Each block's down projection; its input is the activation the sparsity metrics read."""
        return [b.ffn.down for b in self.blocks]  # type: ignore[union-attr]


def non_embedding_params(model: nn.Module) -> int:
    """Parameters outside the embeddings (the scale the Sparsing Law paper reports)."""
    skip = {id(p) for name, p in model.named_parameters() if name in ("embed.weight", "pos")}
    return sum(p.numel() for p in model.parameters() if id(p) not in skip)


def _build(impl: str | None, **arch: Any) -> nn.Module:
    unknown = set(arch) - set(ARCH_KEYS)
    if unknown:
        raise ValueError(f"tiny-lm: unknown architecture keywords {sorted(unknown)} (takes {', '.join(ARCH_KEYS)})")
    return TinyLM(**{**_BASE, **arch})


register_model(ModelFamily(
    name="tiny-lm", build=_build, presets=PRESETS, arch_keys=ARCH_KEYS,
    input_shape=lambda arch: (int(arch.get("seq_len", 128)),), plugs=None,
    outputs=lambda arch: int(arch.get("vocab", 256)), width_key="d_model", width_step=8,
    description="decoder-only byte-level LM, RMSNorm, gated or plain FFN with ReLU/SiLU/GELU (sparsity laws)",
))


def arch_summary(arch: Mapping[str, Any]) -> dict[str, Any]:
    return {**_BASE, **arch}
