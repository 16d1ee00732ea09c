"""The activation-sparse gated FFN at batch 1 (ProSparse, CHESS): operation, reference, kernels."""

from kernels.sparse_ffn import (  # noqa: F401
    ops,  # noqa: F401  (registers the operation first)
    reference,
    triton_sparse,
)
