"""Gated linear attention against causal softmax attention (GLA, arXiv 2312.06635): the two
operations, their PyTorch references, PyTorch's flash attention, and the authors' fla kernel."""

from kernels.gla import (  # noqa: F401
    fla_chunk,
    ops,  # noqa: F401  (registers the operations first)
    reference,
)
