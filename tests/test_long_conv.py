"""The long convolution (FlashButterfly's suite): the FFT reference is the causal convolution, the
Monarch DFT is the DFT, and the Monarch convolution declares the lengths it takes."""

from __future__ import annotations

import pytest
import torch

from kbench import registry
from kernels.long_conv.monarch import limits, monarch_conv, monarch_dft
from kernels.long_conv.reference import fft_conv


def direct(u: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    n = u.shape[-1]
    out = torch.zeros_like(u)
    for t in range(n):
        out[..., t] = (k[:, : t + 1].flip(-1) * u[..., : t + 1]).sum(-1)
    return out


def test_the_fft_reference_is_the_causal_convolution() -> None:
    gen = torch.Generator().manual_seed(3)
    u, k = torch.randn(2, 3, 50, generator=gen, dtype=torch.float64), torch.randn(3, 50, generator=gen,
                                                                                   dtype=torch.float64)
    assert torch.allclose(fft_conv(u, k), direct(u, k), rtol=0, atol=1e-12)
    shifted = torch.zeros_like(k)
    shifted[:, 1] = 1.0  # a kernel that delays by one step: the output is the input one step late
    assert torch.allclose(fft_conv(u, shifted)[..., 1:], u[..., :-1], atol=1e-12)
    assert torch.allclose(fft_conv(u, shifted)[..., 0], torch.zeros(2, 3, dtype=torch.float64), atol=1e-12)


@pytest.mark.parametrize("n", [2, 4, 8, 32, 128, 2048])
def test_the_monarch_dft_is_the_dft_and_inverts(n: int) -> None:
    x = torch.randn(3, n, dtype=torch.complex64, generator=torch.Generator().manual_seed(n))
    assert torch.allclose(monarch_dft(x), torch.fft.fft(x), rtol=0, atol=1e-4 * n ** 0.5)
    assert torch.allclose(monarch_dft(monarch_dft(x), inverse=True), x, rtol=0, atol=1e-5)


def test_the_monarch_convolution_takes_powers_of_two_only() -> None:
    assert limits({"shape": [1, 1, 1024]}) is None
    assert limits({"shape": [1, 1, 1000]}) == "takes sequence lengths that are powers of two (got 1000)"
    assert registry.implementation("long_conv", "monarch_gemm").limits is limits
    u, k = torch.randn(2, 3, 64), torch.randn(3, 64) / 8
    assert torch.allclose(monarch_conv(u, k), fft_conv(u.double(), k.double()).float(), atol=1e-5)
