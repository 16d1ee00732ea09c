"""Long causal convolutions (FlashButterfly, Simple Hardware-Efficient Long Convolutions): the
operation, the FFT reference and baseline, and kbench's Monarch (batched-GEMM) convolution."""

from kernels.long_conv import (  # noqa: F401
    monarch,
    ops,  # noqa: F401  (registers the operation first)
    reference,
)
