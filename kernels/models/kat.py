"""The Kolmogorov-Arnold Transformer: timm's ViT with each MLP replaced by two GR-KAN layers.

GR-KAN(x) = W F(x) + bias, F the group-rational function of kernels/rational. A transformer MLP
becomes rational (identity init) -> fc1 -> rational (swish init) -> fc2, as KAT's `KAN.forward`.
The model plugs into timm through `mlp_layer`, so no timm code is forked; any registered rational
implementation can be chosen. Coefficients: numerator (1, 6) shared by all groups, denominator
(G, 4) per group, as KAT's released code (notes/kat-flashkat.md 1.2): 6 + 4G = 38 per layer.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from kbench.registry import ModelFamily, implementation, register_model
from kernels.models.vit import ARCH_KEYS, PRESETS, build_vit, input_shape, tokens
from kernels.rational.ops import DEN_COEFFS, FLOPS_PER_ELEMENT, GROUPS, NUM_COEFFS


@functools.cache
def fitted_coefficients(name: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """(a, b) of the rational closest to `name` on [-3, 3], by linear least squares.

    P(x) - f(x) (Q(x) - 1) = f(x) is linear in the coefficients; its solution fits swish to about
    1e-6 (computed here, not copied from KAT's init.json).
    """
    if name == "identity":
        return (0.0, 1.0, 0.0, 0.0, 0.0, 0.0), (0.0, 0.0, 0.0, 0.0)
    if name != "swish":
        raise ValueError(f"rational init: expected 'identity' or 'swish', got {name!r}")
    x = np.linspace(-3.0, 3.0, 2001)
    f = x / (1.0 + np.exp(-x))
    cols = [x**k for k in range(NUM_COEFFS)] + [-f * np.abs(x) ** (j + 1) for j in range(DEN_COEFFS)]
    coeffs, *_ = np.linalg.lstsq(np.stack(cols, axis=1), f, rcond=None)
    return tuple(coeffs[:NUM_COEFFS].tolist()), tuple(coeffs[NUM_COEFFS:].tolist())


class Rational(nn.Module):
    """Group-rational activation over the last dimension, computed by a registered implementation."""

    def __init__(self, width: int, impl: str, init: str = "identity", groups: int = GROUPS) -> None:
        super().__init__()
        if width % groups:
            raise ValueError(f"Rational: width {width} is not divisible by {groups} groups")
        a, b = fitted_coefficients(init)
        self.groups, self.impl = groups, impl
        self.numerator = nn.Parameter(torch.tensor([a], dtype=torch.float32))  # (1, 6), shared by groups
        self.denominator = nn.Parameter(torch.tensor([b] * groups, dtype=torch.float32))  # (G, 4)
        self._fn = implementation("rational", impl).fn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Runs in fp32 under autocast, as KAT's kernels (custom_fwd(cast_inputs=float32)); a model
        # cast to float64 (the float64 gold of the model check) stays in float64.
        x = x if x.dtype == torch.float64 else x.float()
        a = self.numerator.expand(self.groups, NUM_COEFFS)  # autograd sums the groups' gradients
        return self._fn(x, a, self.denominator)

    def counted_flops(self, x: torch.Tensor) -> int:
        """FLOPs of one forward call, as KAT counts them: 21 per element."""
        return x.numel() * FLOPS_PER_ELEMENT

    def extra_repr(self) -> str:
        return f"groups={self.groups}, impl={self.impl}"


class GRKANMlp(nn.Module):
    """A drop-in for timm's `Mlp` (same keyword protocol) built from two GR-KAN layers."""

    def __init__(self, in_features: int, hidden_features: int | None = None, out_features: int | None = None,
                 act_layer: Any = None, norm_layer: Any = None, bias: bool = True, drop: float = 0.0,
                 *, impl: str = "torch_reference", **unused: Any) -> None:
        super().__init__()
        hidden = hidden_features or in_features
        out = out_features or in_features
        self.act1 = Rational(in_features, impl, init="identity")
        self.fc1 = nn.Linear(in_features, hidden, bias=bias)
        self.act2 = Rational(hidden, impl, init="swish")
        self.drop = nn.Dropout(drop)
        self.norm = norm_layer(hidden) if norm_layer is not None else nn.Identity()
        self.fc2 = nn.Linear(hidden, out, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.fc1(self.drop(self.act1(x)))  # (B, N, D) -> (B, N, 4D)
        x = self.norm(self.drop(self.act2(x)))
        return self.drop(self.fc2(x))  # (B, N, 4D) -> (B, N, D)


def build_kat(size: str | None = None, impl: str = "torch_reference", **arch: Any) -> nn.Module:
    """KAT at a preset size, or any ViT architecture keywords (the preset's, then `arch`)."""
    keywords = {**(PRESETS[size] if size else {}), **arch}
    return build_vit(mlp_layer=functools.partial(GRKANMlp, impl=impl), **keywords)


def plug_cases(arch: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Inputs of the model's two rational layers, at batch 2, laid out as the model passes them:
    x dense, the numerator one shared row expanded to every group."""
    dim, hidden = int(arch["embed_dim"]), int(int(arch["embed_dim"]) * float(arch.get("mlp_ratio", 4.0)))
    n = tokens(arch)
    return [{"shape": [2, n, dim], "dtype": "float32", "layout": "expanded"},
            {"shape": [2, n, hidden], "dtype": "float32", "layout": "expanded"}]


def _build(impl: str | None, **arch: Any) -> nn.Module:
    return build_kat(None, impl or "torch_reference", **arch)


register_model(ModelFamily(
    name="kat", build=_build, presets=PRESETS, arch_keys=ARCH_KEYS, input_shape=input_shape, plugs="rational",
    plug_cases=plug_cases,
    description="KAT: timm ViT with GR-KAN MLPs (rational -> fc1 -> rational -> fc2), 8 groups",
))
