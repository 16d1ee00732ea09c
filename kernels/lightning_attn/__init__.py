"""Lightning Attention (arXiv 2405.17381): decayed causal linear attention, its masked and block
forms in PyTorch, and the authors' kernel from fla."""

from kernels.lightning_attn import (  # noqa: F401
    fla_lightning,
    ops,  # noqa: F401  (registers the operation first)
    reference,
)
