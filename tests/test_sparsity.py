"""Activation-sparsity metrics: CETT, per-layer thresholds, the PPL-p% search (kbench.sparsity),
on tiny models that train in seconds on the standard library's text (kbench.data.text)."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
from torch import nn

from kbench import registry, sparsity, sweeps
from kbench.data import text
from kernels.models import tiny_lm  # noqa: F401  (registers the family)

CPU = torch.device("cpu")


def random_layer(seed: int = 0, tokens: int = 256, hidden: int = 40, width: int = 16
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    a = torch.relu(torch.randn(tokens, hidden, generator=gen))
    w = torch.randn(width, hidden, generator=gen) * torch.linspace(0.1, 2.0, hidden)  # neurons of unequal size
    return a, w


def test_cett_rises_with_the_threshold_from_zero_to_one() -> None:
    a, w = random_layer()
    c_max = float((a * w.norm(dim=0)).max())
    values = [sparsity.cett(a, w, t) for t in np.linspace(0, c_max, 25)]
    assert values[0] == 0.0 and values[-1] == pytest.approx(1.0)
    assert all(later >= earlier - 1e-7 for earlier, later in zip(values, values[1:], strict=False))


def test_the_cett_of_dropping_one_neuron_is_its_share_of_the_output() -> None:
    a = torch.tensor([[1.0, 2.0]])
    w = torch.tensor([[1.0, 0.0], [0.0, 1.0]])  # outputs a_0 and a_1 on separate axes
    assert sparsity.cett(a, w, 1.5) == pytest.approx(1 / 5 ** 0.5)  # drops c = 1: |(1, 0)| / |(1, 2)|


@pytest.mark.parametrize("target", [0.05, 0.2, 0.6])
def test_the_threshold_is_the_largest_whose_cett_stays_within_the_target(target: float) -> None:
    a, w = random_layer(1)
    tau = sparsity.threshold_for_cett(a, w, target)
    assert sparsity.cett(a, w, tau) <= target
    assert sparsity.cett(a, w, tau * 1.001 + 1e-9) > target - 1e-4  # a little more crosses it


def test_a_threshold_applies_per_neuron_as_tau_over_its_column_norm() -> None:
    layer = nn.Linear(6, 3, bias=False)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[1.0, 0, 0, 0, 0, 0], [0, 2.0, 0, 0, 0, 0], [0, 0, 4.0, 0, 0, 0]]))
    a = torch.tensor([[0.5, 0.5, 0.5, 0.0, 1.0, 1.0]])  # contributions 0.5, 1.0, 2.0, 0, 0, 0
    with sparsity.masked([layer], [0.9]) as kept:
        out = layer(a)
    assert out.tolist() == [[0.0, 1.0, 2.0]]  # the first neuron (0.5 <= 0.9) dropped, the others kept
    assert kept[0] == [pytest.approx(2 / 6)]


def test_nonzero_fraction_counts_exact_zeros_per_token_over_layers() -> None:
    class Two(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.d1, self.d2 = nn.Linear(4, 2), nn.Linear(4, 2)

        def ffn_downs(self) -> list[nn.Linear]:
            return [self.d1, self.d2]

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.d1(x) + self.d2(torch.relu(x))

    x = torch.tensor([[1.0, -1.0, 0.0, 2.0]])  # layer 1 sees 3 nonzero of 4, layer 2 (relu) 2 of 4
    assert sparsity.nonzero_fraction(Two(), lambda m: m(x)) == pytest.approx((3 / 4 + 2 / 4) / 2)


def test_a_model_without_feed_forward_layers_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="Sequential has no feed-forward layers"):
        sparsity.down_projections(nn.Sequential(nn.Linear(2, 2)))


@pytest.fixture(scope="module")
def trained_lm() -> tuple[nn.Module, sparsity.Loss]:
    torch.manual_seed(0)
    family = registry.model_family("tiny-lm")
    model = family.create("nano", None, {"act": "relu"})
    corpus = text.stdlib()
    sweeps.train_lm(model, corpus, sweeps.SweepConfig(8, 3e-3), 64, [8 * 64 * 150], 0, CPU, lambda s, m: None)
    model.eval()
    return model, sweeps.heldout_loss(corpus, 64, 16, CPU)


@pytest.mark.parametrize("p", [1.0, 5.0])
def test_the_ppl_search_hits_its_target_perplexity_rise(trained_lm: tuple[nn.Module, sparsity.Loss],
                                                       p: float) -> None:
    model, loss = trained_lm
    cal = sparsity.calibrate(model, loss)
    found = sparsity.search_cett([cal], loss, p)
    assert found.ppl_ratio == pytest.approx(1 + p / 100, abs=1e-3 * (1 + p / 100))
    ratio, kept = cal.sparse(found.cett, loss)
    assert ratio == pytest.approx(found.ppl_ratio)
    assert 0 < kept < 1


def test_relu_activation_ratio_at_ppl_1_is_at_most_its_nonzero_fraction(
        trained_lm: tuple[nn.Module, sparsity.Loss]) -> None:
    model, loss = trained_lm
    cal = sparsity.calibrate(model, loss)
    found = sparsity.search_cett([cal], loss, 1.0)
    _, kept = cal.sparse(found.cett, loss)
    assert kept <= sparsity.nonzero_fraction(model, loss)
    bigger = cal.sparse(min(1.0, found.cett * 2), loss)  # a larger CETT drops more and costs more
    assert bigger[1] < kept and bigger[0] > found.ppl_ratio


def test_the_corpus_is_pinned_split_and_described() -> None:
    corpus = text.stdlib()
    assert corpus.files == len(text.FILES) and corpus.heldout.size > 50_000 and corpus.train.size > 10 * 50_000
    info = corpus.describe()
    assert info["sha256"] == corpus.sha256 and info["python"] == f"{sys.version_info[0]}.{sys.version_info[1]}"
    if sys.version_info[:3] == (3, 11, 7):
        assert corpus.pinned  # the digest was measured on this release
    elif corpus.sha256 != text.PINNED.get(info["python"]):
        assert not corpus.pinned and info["pinned"] is False  # another release's files: said, not hidden
    held = bytes(corpus.heldout[:2000])
    assert held not in bytes(corpus.train)  # held-out files are not in the training text


def test_a_missing_pinned_file_is_a_data_error(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    from kbench.data import DataError

    text.stdlib.cache_clear()
    monkeypatch.setattr(text, "_root", lambda: tmp_path)
    try:
        with pytest.raises(DataError, match="lacks 91 pinned file"):
            text.stdlib()
    finally:
        text.stdlib.cache_clear()


def test_every_layer_is_cut_at_its_own_threshold_for_the_shared_cett(monkeypatch: pytest.MonkeyPatch) -> None:
    """Layers with activations of very different sizes get different thresholds, each meeting the
    shared CETT on its own layer (cutting every layer at the first layer's would not)."""
    layers = [nn.Linear(40, 16, bias=False) for _ in range(3)]
    acts = []
    for i, layer in enumerate(layers):
        a, w = random_layer(seed=10 + i)
        with torch.no_grad():
            layer.weight.copy_(w)
        acts.append(a * 10.0 ** i)  # each layer's contributions ten times the last's
    model = nn.Sequential(*layers)
    calibrated = sparsity.Calibrated(model, acts, dense_loss=0.0)
    monkeypatch.setattr(sparsity, "down_projections", lambda m: list(layers))
    taus = calibrated.taus(0.2)
    for a, layer, tau in zip(acts, layers, taus, strict=True):
        assert sparsity.cett(a, layer.weight, tau) <= 0.2
        assert sparsity.cett(a, layer.weight, tau * 1.01) > 0.2 - 0.02  # the largest: a little more crosses
    assert taus[2] > 50 * taus[0]


class Linear:
    """A calibrated model whose perplexity ratio rises as 1 + slope * CETT (CETT lives in [0, 1])."""

    def __init__(self, slope: float) -> None:
        self.slope = slope

    def sparse(self, value: float, loss: object) -> tuple[float, None]:
        assert 0.0 <= value <= 1.0 and loss == "probe", (value, loss)
        return 1.0 + self.slope * value, None


def test_the_shared_cett_meets_the_mean_ratio_of_the_models_at_the_target() -> None:
    models = [Linear(0.5), Linear(1.5)]  # mean ratio 1 + CETT: p = 10 is reached at CETT 0.1
    found = sparsity.search_cett(models, "probe", 10.0)  # type: ignore[arg-type]
    assert found.target == 1.1 and found.reached
    assert found.cett == pytest.approx(0.1, abs=2 ** -sparsity.OUTER_STEPS) and found.cett <= 0.1
    assert found.ppl_ratio == 1.0 + found.cett


def test_a_target_not_reached_even_at_cett_1_says_so_with_the_ratio_it_got() -> None:
    for slope, p in ((0.04, 5.0), (0.05, 5.0)):  # below the target, and exactly at it (not above: not reached)
        found = sparsity.search_cett([Linear(slope)], "probe", p)  # type: ignore[arg-type]
        assert found == sparsity.PplSearch(1.0, 1.0 + slope, 1.05, reached=False)


def test_timm_style_blocks_give_their_mlps_down_projections_in_order() -> None:
    blocks = nn.ModuleList(nn.Module() for _ in range(3))
    for block in blocks:
        block.mlp = nn.Module()
        block.mlp.fc2 = nn.Linear(8, 4)
    model = nn.Module()
    model.blocks = blocks
    assert sparsity.down_projections(model) == [b.mlp.fc2 for b in blocks]
    blocks[1].mlp.fc2 = nn.Conv1d(8, 4, 1)  # not a linear down projection: refused, not half read
    with pytest.raises(ValueError, match="no feed-forward layers"):
        sparsity.down_projections(model)


def test_the_threshold_at_the_edges_of_its_inputs() -> None:
    """A zero or negative target keeps every contribution; no tokens give no threshold; a largest
    contribution of exactly 1 is searched like any other."""
    w = torch.eye(2)  # unit columns: a contribution is |a_i|
    a = torch.tensor([[1.0, 0.5], [0.25, 1.0]])
    assert sparsity.threshold_for_cett(a, w, 0.0) == 0.0
    assert sparsity.threshold_for_cett(a, w, -0.1) == 0.0
    assert sparsity.threshold_for_cett(torch.zeros(0, 2), w, 0.5) == 0.0
    tau = sparsity.threshold_for_cett(a, w, 0.5)
    assert 0.0 < tau < 1.0 and sparsity.cett(a, w, tau) <= 0.5


def test_a_model_with_more_layers_than_activations_is_refused() -> None:
    model = nn.Module()
    model.ffn_downs = lambda: [nn.Linear(4, 2), nn.Linear(4, 2)]
    calibrated = sparsity.Calibrated(model, [torch.ones(3, 4)], dense_loss=1.0)
    with pytest.raises(ValueError):
        calibrated.taus(0.1)


def test_cett_counts_every_token_with_an_output_and_no_token_without_one() -> None:
    w = torch.eye(2)
    assert sparsity.cett(torch.tensor([[0.3, 0.4]]), w, 0.35) == pytest.approx(0.6)  # an output of norm 0.5 counts
    with_silent = torch.tensor([[0.3, 0.4], [0.0, 0.0]])  # a token whose output is zero has no relative error
    assert sparsity.cett(with_silent, w, 0.35) == pytest.approx(0.6)
    assert sparsity.cett(torch.zeros(2, 2), w, 0.5) == 0.0


def test_a_target_met_exactly_is_within_it() -> None:
    """At most the target, not below it: a CETT equal to the target keeps its threshold."""
    w, a = torch.eye(2), torch.tensor([[1.0, 0.5]])
    assert sparsity.threshold_for_cett(a, w, 1.0) == 1.0  # dropping everything is a CETT of exactly 1
    step = sparsity.largest_within(lambda x: 0.0 if x < 0.5 else 1.0, 0.0, 1.0, 20)
    assert 0.5 - 2 ** -20 <= step < 0.5
