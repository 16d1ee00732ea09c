"""timm's VisionTransformer by keyword, with the DeiT/ViT Tiny, Small and Base presets: the MLP baseline."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from timm.models.vision_transformer import VisionTransformer

from kbench.params import Param
from kbench.registry import ModelFamily, register_model

# As timm's vit_*_patch16_224: depth 12, MLP ratio 4, patch 16, class token, 1000 classes.
_BASE: dict[str, Any] = {"depth": 12, "mlp_ratio": 4.0, "img_size": 224, "patch_size": 16, "num_classes": 1000,
                         "in_chans": 3}
PRESETS: dict[str, dict[str, Any]] = {
    "tiny": {**_BASE, "embed_dim": 192, "num_heads": 3},
    "small": {**_BASE, "embed_dim": 384, "num_heads": 6},
    "base": {**_BASE, "embed_dim": 768, "num_heads": 12},
}
ARCH_KEYS: dict[str, Param] = {
    "embed_dim": Param(int, "token width (a multiple of num_heads)", low=1, high=16384),
    "num_heads": Param(int, "attention heads", low=1, high=256),
    "depth": Param(int, "transformer blocks", low=1, high=256),
    "mlp_ratio": Param(float, "MLP hidden width over embed_dim", low=0.01, high=64.0),
    "img_size": Param(int, "input image side, in pixels", low=1, high=4096),
    "patch_size": Param(int, "patch side, in pixels", low=1, high=1024),
    "num_classes": Param(int, "classes scored", low=1, high=10**6),
    "in_chans": Param(int, "input channels", low=1, high=1024),
    "mlp_act": Param(str, "the MLP's activation (timm's default is GELU; ReLU for activation-sparsity claims)",
                     choices=("gelu", "relu")),
}
MLP_ACTS: dict[str, type[torch.nn.Module]] = {"gelu": torch.nn.GELU, "relu": torch.nn.ReLU}
SIZES = {name: (p["embed_dim"], p["num_heads"]) for name, p in PRESETS.items()}


def build_vit(mlp_layer: Callable[..., torch.nn.Module] | None = None, **arch: Any) -> VisionTransformer:
    unknown = set(arch) - set(ARCH_KEYS)
    if unknown:
        raise ValueError(f"ViT: unknown architecture keywords {sorted(unknown)} (takes {', '.join(ARCH_KEYS)})")
    extra: dict[str, Any] = {"mlp_layer": mlp_layer} if mlp_layer is not None else {}
    act = arch.pop("mlp_act", None)
    if act is not None:
        extra["act_layer"] = MLP_ACTS[act]
    return VisionTransformer(**{**_BASE, **arch}, **extra)


def input_shape(arch: Mapping[str, Any]) -> tuple[int, int, int]:
    side = int(arch.get("img_size", 224))
    return int(arch.get("in_chans", 3)), side, side


def tokens(arch: Mapping[str, Any]) -> int:
    """Patches plus the class token."""
    return (int(arch.get("img_size", 224)) // int(arch.get("patch_size", 16))) ** 2 + 1


def for_task(arch: Mapping[str, Any], shape: tuple[int, ...], outputs: int) -> dict[str, Any]:
    """Square images (channels, side, side) in, `outputs` classes out."""
    if len(shape) != 3 or shape[1] != shape[2]:
        raise ValueError(f"ViT: needs square images (channels, side, side), got input shape {shape}")
    return {**arch, "in_chans": shape[0], "img_size": shape[1], "num_classes": outputs}


WIDTH_STEP = 24  # a matched embedding width divides by up to 3 heads and by KAT's 8 rational groups


def _build(impl: str | None, **arch: Any) -> torch.nn.Module:
    return build_vit(**arch)


register_model(ModelFamily(
    name="vit", build=_build, presets=PRESETS, arch_keys=ARCH_KEYS, input_shape=input_shape, plugs=None,
    for_task=for_task, width_key="embed_dim", width_step=WIDTH_STEP,
    description="timm VisionTransformer, GELU MLP (ViT-T/S/B presets, any width, depth, patch or image size)",
))
