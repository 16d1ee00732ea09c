"""Model families for train-step and FLOPs claims: timm's ViT and the KAT built on it."""

from kernels.models import kan, kat, mlp, vit  # noqa: F401
