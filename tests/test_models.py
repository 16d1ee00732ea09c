"""The model families: published parameter counts, building by keyword, counted FLOPs, and the
check of a plugged implementation inside the model before any step is timed."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from kbench import registry
from kbench.claims import Subject
from kbench.kinds._model_building import check_model, count_flops
from kbench.kinds.base import Context, Failed
from kbench.runner import QUICK_KERNEL, QUICK_MODEL
from kernels.models import kat

PUBLISHED_PARAMS = {"tiny": 5.7e6, "small": 22.1e6, "base": 86.6e6}  # KAT README
KAT, VIT = registry.model_family("kat"), registry.model_family("vit")


def params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("size", ["tiny", "small", "base"])
def test_parameter_counts_match_the_paper(size: str) -> None:
    with torch.device("meta"):
        model = KAT.create(size)
    assert abs(params(model) / PUBLISHED_PARAMS[size] - 1) < 0.01, params(model)


def test_kat_tiny_has_one_more_rational_layer_pair_per_block_than_vit() -> None:
    with torch.device("meta"):
        k, v = KAT.create("tiny"), VIT.create("tiny")
    assert params(k) - params(v) == 12 * 2 * (6 + 4 * 8)  # 12 blocks x 2 rationals x (shared numerator + 8 den.)


def test_any_architecture_by_keyword() -> None:
    with torch.device("meta"):
        small = VIT.create("tiny", overrides={"depth": 2, "embed_dim": 64, "num_heads": 2, "img_size": 32})
        deeper = VIT.create("tiny", overrides={"depth": 4, "embed_dim": 64, "num_heads": 2, "img_size": 32})
    block = (params(deeper) - params(small)) // 2
    dim, hidden = 64, 256
    assert block == 2 * dim * 2 + 3 * dim * dim + 3 * dim + dim * dim + dim + dim * hidden + hidden + hidden * dim + dim
    assert VIT.input_shape(VIT.arch("tiny", {"img_size": 32})) == (3, 32, 32)
    with pytest.raises(ValueError, match="unknown architecture keywords"):
        VIT.create("tiny", overrides={"wings": 2})


def test_plug_cases_are_the_models_widths_and_layout() -> None:
    cases = KAT.plug_cases(KAT.arch("small"))
    assert [c["shape"] for c in cases] == [[2, 197, 384], [2, 197, 1536]]
    assert {c["layout"] for c in cases} == {"expanded"}  # the shared numerator, expanded to every group


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


def test_a_float64_model_stays_in_float64() -> None:
    mlp = kat.GRKANMlp(in_features=16, hidden_features=64).double()
    assert mlp(torch.randn(2, 5, 16, dtype=torch.float64)).dtype == torch.float64


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
        k, v = KAT.create("tiny"), VIT.create("tiny")
    fk, fv = count_flops(k), count_flops(v)
    rational = 12 * 197 * (192 + 768) * 21  # elements per image through both rationals x 21
    assert fk - fv == pytest.approx(rational, rel=1e-9)
    assert 1.0 < fk / fv < 1.05


SMALL = {"depth": 1, "embed_dim": 32, "num_heads": 2, "img_size": 32, "num_classes": 10}


def _ctx() -> Context:
    return Context(device=torch.device("cpu"), kernel_timing=QUICK_KERNEL, model_timing=QUICK_MODEL)


def test_the_model_check_passes_a_real_kernel() -> None:
    summaries = check_model(Subject({"model": "kat", "impl": "kbench_triton"}), {"size": "tiny", "arch": SMALL}, _ctx())
    assert summaries[-1]["variant"].startswith("the whole model at batch")
    assert set(summaries[-1]["outputs"]) == {"logits", "grads", "eval logits"}


def test_a_kernel_blind_to_the_models_layout_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    subject = Subject({"model": "kat", "impl": "planted_dense_coeffs"})
    with pytest.raises(Failed, match=r"as timed 2x5x32 float32 \(expanded\)"):
        check_model(subject, {"size": "tiny", "arch": SMALL}, _ctx())
    # Without the layer-level check, the whole-model check still sees it.
    blind = dataclasses.replace(KAT, plug_cases=lambda arch: [])
    monkeypatch.setattr(registry, "model_family", lambda name: blind)
    with pytest.raises(Failed, match="the whole model"):
        check_model(subject, {"size": "tiny", "arch": SMALL}, _ctx())
