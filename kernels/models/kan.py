"""Kolmogorov-Arnold networks with B-spline edges, and stacks of GR-KAN layers, by keyword.

A B-spline KAN layer maps x (..., in) to y (..., out) as
    y_o = sum_i  w_base[o, i] * silu(x_i)  +  sum_i  s[o, i] * sum_c  w_spline[o, i, c] * B_c(x_i)  +  b_o
with B_c the order-k B-spline bases on a grid of G intervals per input (uniform over
`grid_range` at first), extended by k knots each side (G + k bases per input), and s the
per-edge spline scale. The bases follow the Cox-de Boor recursion (written here from the
definition). As in pykan (the KAN paper's package), each layer's grid follows the data: early in
training (`grid_updates` times, every GRID_EVERY steps from the first) the G + 1 knots of each
input move to the quantiles of what that input sees, blended with a uniform grid over its range
(GRID_EPS), and the spline weights are refitted by least squares so that the layer computes the
same function on those inputs. tests/test_kan_equivalence.py checks this layer against pykan's own
on fixed inputs. Parameters: in * out * (G + k + 2) + out (without the spline scale: one less
per edge).

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
GRID_EPS = 0.02  # pykan's default: 2% uniform, 98% quantiles
GRID_EVERY = 5  # steps between grid updates (pykan: 50 steps, 10 updates)


def b_spline_bases(x: torch.Tensor, knots: torch.Tensor, order: int) -> torch.Tensor:
    """Bases B_c(x) for c in 0..K-order-2 with K knots: shape (..., K - 1 - order). `knots` is (K,)
    for one grid, or (in, K) for one grid per input (then x is (..., in))."""
    x = x.unsqueeze(-1)
    bases = ((x >= knots[..., :-1]) & (x < knots[..., 1:])).to(x.dtype)  # order 0: the knot span holding x
    for p in range(1, order + 1):
        left = (x - knots[..., : -(p + 1)]) / (knots[..., p:-1] - knots[..., : -(p + 1)]) * bases[..., :-1]
        right = (knots[..., p + 1:] - x) / (knots[..., p + 1:] - knots[..., 1:-p]) * bases[..., 1:]
        bases = left + right
    return bases


def extended_knots(grid: torch.Tensor, order: int) -> torch.Tensor:
    """(in, G + 1) grid points -> (in, G + 2k + 1) knots: k more each side, spaced by the grid's
    mean interval."""
    step = (grid[:, -1:] - grid[:, :1]) / (grid.shape[1] - 1)
    ks = torch.arange(1, order + 1, dtype=grid.dtype, device=grid.device)
    return torch.cat([grid[:, :1] - step * ks.flip(0), grid, grid[:, -1:] + step * ks], dim=1)


class BSplineKANLayer(nn.Module):
    def __init__(self, in_features: int, out_features: int, grid: int = 5, order: int = 3,
                 grid_range: tuple[float, float] = (-2.0, 2.0), edge_scale: bool = True) -> None:
        super().__init__()
        lo, hi = grid_range
        uniform = torch.linspace(lo, hi, grid + 1).expand(in_features, grid + 1)
        self.register_buffer("knots", extended_knots(uniform, order).contiguous())
        self.in_features, self.out_features, self.grid, self.order = in_features, out_features, grid, order
        self.base_weight = nn.Parameter(torch.empty(out_features, in_features))
        self.spline_weight = nn.Parameter(torch.empty(out_features, in_features, grid + order))
        self.spline_scale = nn.Parameter(torch.ones(out_features, in_features)) if edge_scale else None
        self.bias = nn.Parameter(torch.zeros(out_features))
        nn.init.kaiming_uniform_(self.base_weight, a=math.sqrt(5))
        nn.init.normal_(self.spline_weight, std=0.1 / math.sqrt(in_features))

    def _spline_weight(self) -> torch.Tensor:
        """(out, in, G + k): the spline weights with each edge's scale applied."""
        w = self.spline_weight
        return w if self.spline_scale is None else w * self.spline_scale.unsqueeze(-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        knots = self.knots.to(x.dtype)  # type: ignore[operator]
        bases = b_spline_bases(x, knots, self.order)  # (..., in, G + k)
        spline = torch.einsum("...ic,oic->...o", bases, self._spline_weight())
        return F.linear(F.silu(x), self.base_weight, self.bias) + spline

    @torch.no_grad()
    def update_grid(self, x: torch.Tensor) -> None:
        """Move each input's grid to the quantiles of `x` (n, in), blended with a uniform grid over
        its range, and refit the spline weights so the layer's splines keep their values at x."""
        n = x.shape[0]
        if n < 2:
            return
        xs = torch.sort(x.detach().to(self.knots.dtype), dim=0).values  # type: ignore[union-attr]
        # the unscaled splines are refitted (each edge's scale stays as it is)
        old = torch.einsum("nic,oic->ino", b_spline_bases(xs, self.knots, self.order), self.spline_weight)
        picks = [int(n / self.grid * i) for i in range(self.grid)] + [n - 1]
        adaptive = xs[picks].T  # (in, G + 1)
        lo, hi = adaptive[:, :1], adaptive[:, -1:]
        uniform = lo + (hi - lo) / self.grid * torch.arange(self.grid + 1, dtype=xs.dtype, device=xs.device)
        grid = GRID_EPS * uniform + (1 - GRID_EPS) * adaptive
        if not bool(torch.all(grid[:, 1:] > grid[:, :-1])):
            return  # an input with repeated values cannot carry a grid of distinct knots: keep the old one
        self.knots.copy_(extended_knots(grid, self.order))  # type: ignore[operator]
        bases = b_spline_bases(xs, self.knots, self.order).transpose(0, 1)  # (in, n, G + k)
        coef = torch.linalg.lstsq(bases.double(), old.double()).solution  # (in, G + k, out)
        self.spline_weight.copy_(coef.permute(2, 0, 1).to(self.spline_weight.dtype))

    def counted_flops(self, x: torch.Tensor) -> int:
        """The element-wise work FlopCounterMode does not see: silu, and the bases' recursion
        (about 6 operations per basis function per level); the einsum and linear are counted."""
        spans = self.grid + 2 * self.order
        recursion = sum(spans - p for p in range(1, self.order + 1)) * 6
        return x.numel() * (SILU_FLOPS + recursion)

    def extra_repr(self) -> str:
        return f"{self.in_features} -> {self.out_features}, grid={self.grid}, order={self.order}"


class KAN(nn.Sequential):
    """Flatten, then B-spline KAN layers; `adapt_to_data` moves their grids early in training."""

    def __init__(self, layers: list[BSplineKANLayer], grid_updates: int) -> None:
        super().__init__(nn.Flatten(), *layers)
        self.grid_updates = grid_updates

    @torch.no_grad()
    def adapt_to_data(self, x: torch.Tensor, step: int) -> None:
        """Called by training before each step with the training inputs: update every layer's
        grid on the inputs it sees, at steps 0, GRID_EVERY, ... (`grid_updates` times)."""
        if step % GRID_EVERY or step // GRID_EVERY >= self.grid_updates:
            return
        h = self[0](x)
        for layer in list(self)[1:]:
            layer.update_grid(h)
            h = layer(h)


LAYER_KEYS: dict[str, Param] = {
    "in_features": Param(int, "inputs (flattened)", low=1, high=10**7),
    "hidden": Param(int, "units per hidden layer", low=1, high=10**5),
    "depth": Param(int, "hidden layers (0: one layer from inputs to outputs)", low=0, high=32),
    "out_features": Param(int, "outputs", low=1, high=10**6),
}
KAN_KEYS: dict[str, Param] = {
    **LAYER_KEYS, "grid": Param(int, "B-spline grid intervals", low=1, high=1000),
    "order": Param(int, "B-spline order (3: cubic)", low=1, high=10),
    "grid_updates": Param(int, f"grid updates from the data, every {GRID_EVERY} steps from the first (pykan: 10; "
                               "0: a fixed uniform grid)", low=0, high=1000),
    "edge_scale": Param(bool, "a trainable scale per edge on the spline (pykan's scale_sp)"),
}
KAN_PRESETS: dict[str, dict[str, Any]] = {
    "small": {"in_features": 64, "hidden": 16, "depth": 1, "out_features": 10, "grid": 5, "order": 3,
              "grid_updates": 10, "edge_scale": True},
}


def build_kan(impl: str | None = None, *, in_features: int, hidden: int, depth: int, out_features: int,
              grid: int = 5, order: int = 3, grid_updates: int = 10, edge_scale: bool = True) -> nn.Module:
    """Flatten, then `depth` hidden KAN layers of `hidden` units, then a KAN layer to the outputs."""
    widths = [in_features] + [hidden] * depth + [out_features]
    return KAN([BSplineKANLayer(a, b, grid, order, edge_scale=edge_scale)
                for a, b in zip(widths[:-1], widths[1:], strict=True)], grid_updates)


register_model(ModelFamily(
    name="kan", build=build_kan, presets=KAN_PRESETS, arch_keys=KAN_KEYS,
    input_shape=lambda arch: (int(arch["in_features"]),), for_task=for_task, width_key="hidden",
    outputs=lambda arch: int(arch["out_features"]),
    description="B-spline KAN as in pykan: grid 5, order 3, SiLU base branch, per-edge spline scale, grids "
                "updated from the data early in training",
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
