"""timm's VisionTransformer at the DeiT/ViT Tiny, Small and Base sizes: the MLP baseline."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from timm.models.vision_transformer import VisionTransformer

from kbench.registry import ModelFamily, register_model

# size -> (embed dim, heads); depth 12, MLP ratio 4, patch 16, class token: as timm's vit_*_patch16_224.
SIZES: dict[str, tuple[int, int]] = {"tiny": (192, 3), "small": (384, 6), "base": (768, 12)}


def build_vit(size: str, mlp_layer: Callable[..., torch.nn.Module] | None = None, **kwargs: Any
              ) -> VisionTransformer:
    if size not in SIZES:
        raise ValueError(f"ViT size: expected one of {', '.join(SIZES)}, got {size!r}")
    dim, heads = SIZES[size]
    extra: dict[str, Any] = {"mlp_layer": mlp_layer} if mlp_layer is not None else {}
    return VisionTransformer(img_size=224, patch_size=16, embed_dim=dim, depth=12, num_heads=heads, mlp_ratio=4,
                             num_classes=1000, **extra, **kwargs)


def _build(size: str, impl: str | None) -> torch.nn.Module:
    return build_vit(size)


register_model(ModelFamily(
    name="vit", build=_build, sizes=tuple(SIZES), plugs=None,
    description="timm VisionTransformer, GELU MLP (ViT-T/S/B, patch 16, 224px)",
))
