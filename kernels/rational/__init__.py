"""GR-KAN's rational function: the operation, its reference and every implementation under test."""

from kernels.rational import (  # noqa: F401
    cuda_ext,
    flashkat_triton,
    kat_triton,
    kbench_triton,
    ops,  # noqa: F401  (registers the operation first)
    reference,
    torch_compile,
)
