"""The authors' `flashrnn` package (kbench[seqmix]): its vanilla PyTorch backend (the paper's
baseline), its fused CUDA kernel and its fused Triton kernel. The CUDA and Triton backends need a
GPU (the CUDA one compiles on first use); the vanilla one runs anywhere."""

from __future__ import annotations

import torch

from kbench.registry import register

_DTYPES = {torch.float32: "float32", torch.float64: "float64", torch.bfloat16: "bfloat16", torch.float16: "float16"}


def _run(backend: str, wx: torch.Tensor, r: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    from flashrnn import flashrnn

    states, _ = flashrnn(wx, r, b, function="lstm", backend=backend, dtype=_DTYPES[wx.dtype])
    return states[0]  # states [S, B, T, H, D]: y first, then c


@register("lstm_heads", "flashrnn_vanilla", requires=("module:flashrnn",), dtypes=("float32", "float64", "bfloat16"),
          description="flashrnn's vanilla backend: the PyTorch LSTM the paper's 50x is measured against")
def vanilla(wx: torch.Tensor, r: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return _run("vanilla", wx, r, b)


@register("lstm_heads", "flashrnn_cuda_fused", requires=("cuda", "module:flashrnn"), dtypes=("bfloat16",),
          description="flashrnn's fused CUDA kernel (the recurrence kept on chip)")
def cuda_fused(wx: torch.Tensor, r: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return _run("cuda_fused", wx, r, b)


@register("lstm_heads", "flashrnn_triton", requires=("cuda", "triton", "module:flashrnn"), dtypes=("bfloat16",),
          description="flashrnn's fused Triton kernel")
def triton_fused(wx: torch.Tensor, r: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return _run("triton_fused", wx, r, b)
