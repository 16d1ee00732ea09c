"""Model families: timm's ViT and the KAT built on it, MLPs, KANs, and a tiny language model."""

from kernels.models import kan, kat, mlp, tiny_lm, vit  # noqa: F401
