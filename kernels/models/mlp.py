"""Multi-layer perceptrons by keyword: the MLP side of parameter-matched comparisons."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import nn

from kbench.params import Param
from kbench.registry import ModelFamily, register_model

ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "gelu": nn.GELU, "silu": nn.SiLU, "tanh": nn.Tanh}
PRESETS: dict[str, dict[str, Any]] = {
    "small": {"in_features": 64, "hidden": 64, "depth": 2, "out_features": 10, "activation": "relu"},
}
ARCH_KEYS: dict[str, Param] = {
    "in_features": Param(int, "inputs (flattened)", low=1, high=10**7),
    "hidden": Param(int, "units per hidden layer", low=1, high=10**6),
    "depth": Param(int, "hidden layers (0: a linear model)", low=0, high=64),
    "out_features": Param(int, "outputs", low=1, high=10**6),
    "activation": Param(str, "the hidden layers' activation", choices=tuple(ACTIVATIONS)),
}


def build_mlp(impl: str | None = None, *, in_features: int, hidden: int, depth: int, out_features: int,
              activation: str = "relu") -> nn.Module:
    """Flatten, then `depth` hidden layers of `hidden` units, then a linear output."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"MLP activation: expected one of {', '.join(ACTIVATIONS)}, got {activation!r}")
    layers: list[nn.Module] = [nn.Flatten()]
    width = in_features
    for _ in range(depth):
        layers += [nn.Linear(width, hidden), ACTIVATIONS[activation]()]
        width = hidden
    layers.append(nn.Linear(width, out_features))
    return nn.Sequential(*layers)


def for_task(arch: Mapping[str, Any], input_shape: tuple[int, ...], outputs: int) -> dict[str, Any]:
    size = 1
    for d in input_shape:
        size *= d
    return {**arch, "in_features": size, "out_features": outputs}


register_model(ModelFamily(
    name="mlp", build=build_mlp, presets=PRESETS, arch_keys=ARCH_KEYS,
    input_shape=lambda arch: (int(arch["in_features"]),), for_task=for_task, width_key="hidden",
    outputs=lambda arch: int(arch["out_features"]),
    description="MLP: flatten, hidden linear layers with an activation, linear output",
))
