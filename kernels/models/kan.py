"""Kolmogorov-Arnold networks with B-spline edges, and stacks of GR-KAN layers, by keyword.

A B-spline KAN layer maps x (..., in) to y (..., out) as
    y_o = sum_i  w_base[o, i] * silu(x_i)  +  sum_i sum_c  w_spline[o, i, c] * B_c(x_i)
with B_c the order-k B-spline bases on a uniform grid of G intervals over `grid_range`, extended
by k knots each side (G + k bases per input). The bases follow the Cox-de Boor recursion
(written here from the definition). Parameters: in * out * (G + k + 1) + out.

A GR-KAN layer (KAT) is the group-rational activation followed by a linear map; `grkan` stacks
them: the rational-activation counterpart of the B-spline KAN for timing the two side by side.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from kbench.params import Param
from kbench.registry import ModelFamily, register_model
from kernels.models.mlp import for_task

SILU_FLOPS = 5  # per element, as KANbeFair counts an activation


def b_spline_bases(x: torch.Tensor, knots: torch.Tensor, order: int) -> torch.Tensor:
    """Bases B_c(x) for c in 0..len(knots)-order-2: shape (..., len(knots) - 1 - order)."""
    x = x.unsqueeze(-1)
    bases = ((x >= knots[:-1]) & (x < knots[1:])).to(x.dtype)  # order 0: the knot span holding x
    for p in range(1, order + 1):
        left = (x - knots[: -(p + 1)]) / (knots[p:-1] - knots[: -(p + 1)]) * bases[..., :-1]
        right = (knots[p + 1:] - x) / (knots[p + 1:] - knots[1:-p]) * bases[..., 1:]
        bases = left + right
    return bases


class BSplineKANLayer(nn.Module):
    def __init__(self, in_features: int, out_features: int, grid: int = 5, order: int = 3,
                 grid_range: tuple[float, float] = (-2.0, 2.0)) -> None:
        super().__init__()
        lo, hi = grid_range
        step = (hi - lo) / grid
        self.register_buffer("knots", torch.arange(-order, grid + order + 1, dtype=torch.float32) * step + lo)
        self.in_features, self.out_features, self.grid, self.order = in_features, out_features, grid, order
        self.base_weight = nn.Parameter(torch.empty(out_features, in_features))
        self.spline_weight = nn.Parameter(torch.empty(out_features, in_features, grid + order))
        self.bias = nn.Parameter(torch.zeros(out_features))
        nn.init.kaiming_uniform_(self.base_weight, a=math.sqrt(5))
        nn.init.normal_(self.spline_weight, std=0.1 / math.sqrt(in_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        knots = self.knots.to(x.dtype)  # type: ignore[operator]
        bases = b_spline_bases(x, knots, self.order)  # (..., in, G + k)
        spline = torch.einsum("...ic,oic->...o", bases, self.spline_weight)
        return F.linear(F.silu(x), self.base_weight, self.bias) + spline

    def counted_flops(self, x: torch.Tensor) -> int:
        """The element-wise work FlopCounterMode does not see: silu, and the bases' recursion
        (about 6 operations per basis function per level); the einsum and linear are counted."""
        spans = self.grid + 2 * self.order
        recursion = sum(spans - p for p in range(1, self.order + 1)) * 6
        return x.numel() * (SILU_FLOPS + recursion)

    def extra_repr(self) -> str:
        return f"{self.in_features} -> {self.out_features}, grid={self.grid}, order={self.order}"


LAYER_KEYS: dict[str, Param] = {
    "in_features": Param(int, "inputs (flattened)", low=1, high=10**7),
    "hidden": Param(int, "units per hidden layer", low=1, high=10**5),
    "depth": Param(int, "hidden layers (0: one layer from inputs to outputs)", low=0, high=32),
    "out_features": Param(int, "outputs", low=1, high=10**6),
}
KAN_KEYS: dict[str, Param] = {**LAYER_KEYS, "grid": Param(int, "B-spline grid intervals", low=1, high=1000),
                              "order": Param(int, "B-spline order (3: cubic)", low=1, high=10)}
KAN_PRESETS: dict[str, dict[str, Any]] = {
    "small": {"in_features": 64, "hidden": 16, "depth": 1, "out_features": 10, "grid": 5, "order": 3},
}


def build_kan(impl: str | None = None, *, in_features: int, hidden: int, depth: int, out_features: int,
              grid: int = 5, order: int = 3) -> nn.Module:
    """Flatten, then `depth` hidden KAN layers of `hidden` units, then a KAN layer to the outputs."""
    widths = [in_features] + [hidden] * depth + [out_features]
    layers: list[nn.Module] = [nn.Flatten()]
    layers += [BSplineKANLayer(a, b, grid, order) for a, b in zip(widths[:-1], widths[1:], strict=True)]
    return nn.Sequential(*layers)


register_model(ModelFamily(
    name="kan", build=build_kan, presets=KAN_PRESETS, arch_keys=KAN_KEYS,
    input_shape=lambda arch: (int(arch["in_features"]),), for_task=for_task, width_key="hidden",
    outputs=lambda arch: int(arch["out_features"]),
    description="B-spline KAN (grid 5, order 3 by default, SiLU base branch), as in the KAN paper",
))


class GRKANLayer(nn.Module):
    """KAT's GR-KAN layer: group-rational activation over the inputs, then a linear map."""

    def __init__(self, in_features: int, out_features: int, impl: str) -> None:
        super().__init__()
        from kernels.models.kat import Rational

        self.act = Rational(in_features, impl, init="swish")
        self.fc = nn.Linear(in_features, out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.act(x))


def build_grkan(impl: str | None = None, *, in_features: int, hidden: int, depth: int,
                out_features: int) -> nn.Module:
    widths = [in_features] + [hidden] * depth + [out_features]
    return nn.Sequential(nn.Flatten(), *[GRKANLayer(a, b, impl or "torch_reference")
                                         for a, b in zip(widths[:-1], widths[1:], strict=True)])


def _grkan_plugs(arch: Mapping[str, Any]) -> list[dict[str, Any]]:
    widths = {int(arch["in_features"])} | ({int(arch["hidden"])} if int(arch["depth"]) else set())
    return [{"shape": [2, w], "dtype": "float32", "layout": "expanded"} for w in sorted(widths)]


register_model(ModelFamily(
    name="grkan", build=build_grkan,
    presets={"small": {"in_features": 64, "hidden": 64, "depth": 1, "out_features": 64}},
    arch_keys=LAYER_KEYS,
    input_shape=lambda arch: (int(arch["in_features"]),), for_task=for_task, width_key="hidden",
    outputs=lambda arch: int(arch["out_features"]), width_step=8,
    plugs="rational", plug_cases=_grkan_plugs,
    description="stack of GR-KAN layers (group-rational activation, then linear), KAT's MLP replacement",
))
