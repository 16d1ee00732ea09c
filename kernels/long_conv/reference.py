"""The FFT convolution in PyTorch (rfft of length 2L): the reference (run in float64 as the
golden output) and the baseline FlashButterfly is measured against."""

from __future__ import annotations

import torch

from kbench.registry import register


@register("long_conv", "torch_fft", dtypes=("float32", "float64"),
          description="torch.fft.rfft/irfft of length 2L (the FFT convolution FlashButterfly is compared with)")
def fft_conv(u: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    n = u.shape[-1]
    spectrum = torch.fft.rfft(u, n=2 * n) * torch.fft.rfft(k, n=2 * n)
    return torch.fft.irfft(spectrum, n=2 * n)[..., :n]
