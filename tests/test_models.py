"""The KAT model: published parameter counts, a working GR-KAN MLP, counted FLOPs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from kbench.kinds.models import count_flops
from kernels.models import kat, vit

PUBLISHED_PARAMS = {"tiny": 5.7e6, "small": 22.1e6, "base": 86.6e6}  # KAT README


@pytest.mark.parametrize("size", ["tiny", "small", "base"])
def test_parameter_counts_match_the_paper(size: str) -> None:
    with torch.device("meta"):
        model = kat.build_kat(size)
    params = sum(p.numel() for p in model.parameters())
    assert abs(params / PUBLISHED_PARAMS[size] - 1) < 0.01, params


def test_kat_tiny_has_one_more_rational_layer_pair_per_block_than_vit() -> None:
    with torch.device("meta"):
        k, v = kat.build_kat("tiny"), vit.build_vit("tiny")
    extra = sum(p.numel() for p in k.parameters()) - sum(p.numel() for p in v.parameters())
    assert extra == 12 * 2 * (6 + 4 * 8)  # 12 blocks x 2 rationals x (shared numerator + 8 denominators)


def test_grkan_mlp_forward_and_backward_with_a_triton_kernel() -> None:
    torch.manual_seed(0)
    mlp = kat.GRKANMlp(in_features=16, hidden_features=64, impl="kbench_triton")
    ref = kat.GRKANMlp(in_features=16, hidden_features=64, impl="torch_reference")
    ref.load_state_dict(mlp.state_dict())
    x = torch.randn(2, 5, 16)
    y, y_ref = mlp(x), ref(x)
    assert y.shape == (2, 5, 16)
    torch.testing.assert_close(y, y_ref, rtol=1e-5, atol=1e-6)
    y.square().sum().backward()
    y_ref.square().sum().backward()
    assert mlp.act2.denominator.grad is not None
    torch.testing.assert_close(mlp.act2.numerator.grad, ref.act2.numerator.grad, rtol=1e-4, atol=1e-6)


def test_fitted_swish_init_is_close_to_swish() -> None:
    a, b = kat.fitted_coefficients("swish")
    x = np.linspace(-3, 3, 301)
    p = np.polyval(np.array(a)[::-1], x)
    q = 1 + np.abs(x) * np.polyval(np.abs(np.array(b))[::-1], np.abs(x))
    assert np.max(np.abs(p / q - x / (1 + np.exp(-x)))) < 1e-4
    with pytest.raises(ValueError, match="rational init"):
        kat.fitted_coefficients("tanh")


def test_flops_of_kat_and_vit_are_similar_and_include_the_rational() -> None:
    with torch.device("meta"):
        k, v = kat.build_kat("tiny"), vit.build_vit("tiny")
    fk, fv = count_flops(k), count_flops(v)
    rational = 12 * 197 * (192 + 768) * 21  # elements per image through both rationals x 21
    assert fk - fv == pytest.approx(rational, rel=1e-9)
    assert 1.0 < fk / fv < 1.05
