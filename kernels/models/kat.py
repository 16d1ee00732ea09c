"""The Kolmogorov-Arnold Transformer: timm's ViT with each MLP replaced by two GR-KAN layers.

GR-KAN(x) = W F(x) + bias, F the group-rational function of kernels/rational. A transformer MLP
becomes rational (identity init) -> fc1 -> rational (swish init) -> fc2, as KAT's `KAN.forward`.
The model plugs into timm through `mlp_layer`, so no timm code is forked; any registered rational
implementation can be chosen. Coefficients: numerator (1, 6) shared by all groups, denominator
(G, 4) per group, as KAT's released code (notes/kat-flashkat.md 1.2): 6 + 4G = 38 per layer.
`rational_groups = 0` gives every channel its own numerator and denominator (per-channel rational,
the alternative GR-KAN's grouping is measured against).

Initialisation (`init="kat"`, the default): as the public code's `kan_mimetic` mode does it, read
there and written here from its steps. Every linear layer's weight is truncated normal (std 0.02)
except the attention's qkv, uniform in +-sqrt(6 / (out/3 + in)); then the attention is set
"mimetically": per head, query and key rows from the SVD factors of 0.7 * U + 0.7 * I (U uniform
with variance 1/d), value and output projection from those of 0.4 * U - 0.4 * I. (The public
code also calls a variance-preserving Kaiming init on the GR-KAN linears, which the truncated
normal overwrites: the effective init is the one written here.) `init="timm"` keeps timm's ViT
init (every linear truncated normal 0.02).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from kbench.params import Param
from kbench.registry import ModelFamily, implementation, register_model
from kernels.models.vit import ARCH_KEYS, PRESETS, WIDTH_STEP, build_vit, for_task, input_shape, tokens
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
        per_channel = groups == 0
        groups = width if per_channel else groups
        if width % groups:
            raise ValueError(f"Rational: width {width} is not divisible by {groups} groups")
        a, b = fitted_coefficients(init)
        self.groups, self.impl = groups, impl
        # KAT: one numerator row shared by all groups; per channel: a numerator per channel too
        self.numerator = nn.Parameter(torch.tensor([a] * (groups if per_channel else 1), dtype=torch.float32))
        self.denominator = nn.Parameter(torch.tensor([b] * groups, dtype=torch.float32))  # (G, 4)
        self._fn = implementation("rational", impl).fn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Runs in fp32 under autocast, as KAT's kernels (custom_fwd(cast_inputs=float32)); a model
        # cast to float64 (the float64 gold of the model check) stays in float64.
        x = x if x.dtype == torch.float64 else x.float()
        a = self.numerator.expand(self.groups, NUM_COEFFS)  # autograd sums a shared row's gradients
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
                 *, impl: str = "torch_reference", groups: int = GROUPS, **unused: Any) -> None:
        super().__init__()
        hidden = hidden_features or in_features
        out = out_features or in_features
        self.act1 = Rational(in_features, impl, init="identity", groups=groups)
        self.fc1 = nn.Linear(in_features, hidden, bias=bias)
        self.act2 = Rational(hidden, impl, init="swish", groups=groups)
        self.drop = nn.Dropout(drop)
        self.norm = norm_layer(hidden) if norm_layer is not None else nn.Identity()
        self.fc2 = nn.Linear(hidden, out, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.fc1(self.drop(self.act1(x)))  # (B, N, D) -> (B, N, 4D)
        x = self.norm(self.drop(self.act2(x)))
        return self.drop(self.fc2(x))  # (B, N, 4D) -> (B, N, D)


INITS = ("kat", "timm", "variance-preserving")
KAT_KEYS: dict[str, Param] = {
    **{k: v for k, v in ARCH_KEYS.items() if k != "mlp_act"},  # the rational is its activation
    "rational_groups": Param(int, "groups sharing a rational's denominator (0: one per channel)", low=0, high=16384),
    "init": Param(str, "the initialisation: the public code's, timm's, or the paper's variance-preserving one",
                  choices=INITS),
}


def build_kat(size: str | None = None, impl: str = "torch_reference", *, rational_groups: int = GROUPS,
              init: str = "kat", **arch: Any) -> nn.Module:
    """KAT at a preset size, or any ViT architecture keywords (the preset's, then `arch`)."""
    if init not in INITS:
        raise ValueError(f"KAT init: expected one of {', '.join(INITS)}, got {init!r}")
    keywords = {**(PRESETS[size] if size else {}), **arch}
    model = build_vit(mlp_layer=functools.partial(GRKANMlp, impl=impl, groups=rational_groups), **keywords)
    if init in ("kat", "variance-preserving"):
        kat_init(model)
    if init == "variance-preserving":
        variance_preserving_init(model)
    return model


# The gain of a layer fed by a rational fitted to swish: 1 / sqrt(E[F(x)^2]) for x ~ N(0, 1), the
# value the public code patches into torch.nn.init.calculate_gain for "swish".
SWISH_GAIN = 2.8178205270359653**0.5


@torch.no_grad()
def variance_preserving_init(model: nn.Module) -> None:
    """The GR-KAN linears as the paper describes and the public code intends (its Kaiming init is
    overwritten there): fc1 after the identity-initialised rational with gain 1, fc2 after the
    swish-initialised one with the swish gain, both N(0, gain^2 / fan_in)."""
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear) and name.endswith(("mlp.fc1", "mlp.fc2")):
            gain = SWISH_GAIN if name.endswith("fc2") else 1.0
            nn.init.normal_(module.weight, std=gain / module.weight.shape[1] ** 0.5)


@torch.no_grad()
def kat_init(model: nn.Module) -> None:
    """The public KAT code's effective initialisation (module docstring), from torch's RNG."""
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear):
            if name.endswith("qkv"):
                bound = (6.0 / (module.weight.shape[0] // 3 + module.weight.shape[1])) ** 0.5
                nn.init.uniform_(module.weight, -bound, bound)
            else:
                nn.init.trunc_normal_(module.weight, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
    for module in model.modules():
        if hasattr(module, "qkv") and hasattr(module, "proj") and hasattr(module, "num_heads"):
            _mimetic(module.qkv.weight, module.proj.weight, int(module.num_heads))


def _ortho_like(dim: int, alpha: float, beta: float, sign: float) -> tuple[torch.Tensor, torch.Tensor]:
    """L, R with L @ R = alpha * U + sign * beta * I (U uniform, variance 1/dim), split by SVD."""
    bound = 3.0**0.5 / dim**0.5
    a = alpha * (torch.rand(dim, dim, dtype=torch.float64) * 2 - 1) * bound + sign * beta * torch.eye(dim,
                                                                                                   dtype=torch.float64)
    u, s, vh = torch.linalg.svd(a)
    root = torch.diag(s.sqrt())
    return u @ root, root @ vh


def _mimetic(qkv: torch.Tensor, proj: torch.Tensor, heads: int) -> None:
    dim = qkv.shape[1]
    head = dim // heads
    for h in range(heads):
        left, right = _ortho_like(dim, 0.7, 0.7, 1.0)
        qkv[h * head:(h + 1) * head] = left[:, :head].T.float()  # query rows of head h
        qkv[dim + h * head:dim + (h + 1) * head] = right.T[:, :head].T.float()  # key rows
    value, out = _ortho_like(dim, 0.4, 0.4, -1.0)
    qkv[2 * dim:] = value.float()
    proj.copy_(out.float())


def plug_cases(arch: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Inputs of the model's two rational layers, at batch 2, laid out as the model passes them:
    x dense, the numerator one shared row expanded to every group."""
    dim, hidden = int(arch["embed_dim"]), int(int(arch["embed_dim"]) * float(arch.get("mlp_ratio", 4.0)))
    n = tokens(arch)
    groups = int(arch.get("rational_groups", GROUPS))
    layout = {"layout": "expanded"} if groups else {"groups": 0}  # per channel: every row its own
    extra = {"groups": groups} if groups not in (0, GROUPS) else {}
    return [{"shape": [2, n, width], "dtype": "float32", **layout, **extra} for width in (dim, hidden)]


def _build(impl: str | None, **arch: Any) -> nn.Module:
    return build_kat(None, impl or "torch_reference", **arch)


register_model(ModelFamily(
    name="kat", build=_build, presets=PRESETS, arch_keys=KAT_KEYS, input_shape=input_shape, plugs="rational",
    plug_cases=plug_cases, for_task=for_task, width_key="embed_dim", width_step=WIDTH_STEP,
    description="KAT: timm ViT with GR-KAN MLPs (rational -> fc1 -> rational -> fc2), 8 groups",
))
