"""Neighborhood attention in 1-D and 2-D (Faster Neighborhood Attention, arXiv 2403.04690): the
operation, kbench's masked and gathered PyTorch versions, and NATTEN's fused kernels."""

from kernels.neighborhood_attention import (  # noqa: F401
    natten_fused,
    ops,  # noqa: F401  (registers the operation first)
    reference,
)
