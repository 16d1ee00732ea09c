"""kbench's own Monarch (two-factor Cooley-Tukey) FFT convolution: every DFT as two batched
matrix products and a twiddle, the decomposition FlashButterfly builds on (FlashButterfly fuses
it into one IO-aware kernel; this is the PyTorch form, not the authors' kernel).

For N = N1 * N2 and x[N2 n1 + n2], the DFT X[k1 + N1 k2] is
    sum_n2 W_N2^(n2 k2) * W_N^(n2 k1) * sum_n1 W_N1^(n1 k1) x[N2 n1 + n2]
so x viewed as (N1, N2) is multiplied by F_N1 on the left, scaled by the twiddles W_N^(k1 n2),
multiplied by F_N2 on the right, and read out transposed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from functools import cache
from typing import Any

import torch

from kbench.registry import register


@cache
def _dft(n: int, inverse: bool, device: torch.device) -> torch.Tensor:
    """The n x n DFT matrix (its inverse's numerator when `inverse`), exact in float64, then complex64."""
    j = torch.arange(n, dtype=torch.float64, device=device)
    angle = (2 if inverse else -2) * math.pi * torch.outer(j, j).remainder(n) / n
    return torch.polar(torch.ones_like(angle), angle).to(torch.complex64)


@cache
def _twiddle(n1: int, n2: int, inverse: bool, device: torch.device) -> torch.Tensor:
    k1 = torch.arange(n1, dtype=torch.float64, device=device)
    m2 = torch.arange(n2, dtype=torch.float64, device=device)
    angle = (2 if inverse else -2) * math.pi * torch.outer(k1, m2).remainder(n1 * n2) / (n1 * n2)
    return torch.polar(torch.ones_like(angle), angle).to(torch.complex64)


def monarch_dft(x: torch.Tensor, inverse: bool = False) -> torch.Tensor:
    """The DFT (or inverse DFT) of complex x along its last axis, of a length that is a power of two."""
    n = x.shape[-1]
    n1 = 1 << (n.bit_length() - 1) // 2
    n2 = n // n1
    a = x.reshape(*x.shape[:-1], n1, n2)
    a = _dft(n1, inverse, x.device) @ a * _twiddle(n1, n2, inverse, x.device) @ _dft(n2, inverse, x.device)
    out = a.transpose(-1, -2).reshape(x.shape)
    return out / n if inverse else out


def limits(case: Mapping[str, Any]) -> str | None:
    n = int(case["shape"][-1])
    return None if n & (n - 1) == 0 else f"takes sequence lengths that are powers of two (got {n})"


@register("long_conv", "monarch_gemm", limits=limits,
          description="FFT convolution with every DFT as two batched GEMMs and a twiddle (Monarch, PyTorch)")
def monarch_conv(u: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    n = u.shape[-1]
    pad = (0, n)
    spectrum = monarch_dft(torch.nn.functional.pad(u, pad).to(torch.complex64)) * monarch_dft(
        torch.nn.functional.pad(k, pad).to(torch.complex64))
    return monarch_dft(spectrum, inverse=True).real[..., :n].contiguous()
