"""Activation-sparsity metrics of feed-forward networks (notes/sparsity-and-kan.md 1.1 and 2.2).

Both read the activation `a` that a feed-forward network's down projection multiplies (hooked
as that layer's input: `act(gate x) * up x` in a gated FFN, `act(fc1 x)` in a plain MLP).

- `nonzero_fraction`: the Lazy Neuron paper's measure, the share of entries of `a` that are not
  exactly zero, per token, averaged over tokens and layers.
- PPL-p% (the Sparsing Law paper's metric): neuron i's contribution to a token is
  c_i = |a_i| * ||W_down[:, i]||. For a threshold tau, CETT(tau) is the mean over tokens of
  ||sum over {i: c_i <= tau} of a_i W_down[:, i]|| / ||W_down a||, the relative error of dropping
  the small contributions. Every layer gets its own tau, the largest whose CETT stays within one
  shared CETT value; that value is searched so that perplexity with the small contributions
  dropped is (1 + p/100) times the dense perplexity. The activation ratio is the share of `a`
  kept, averaged over tokens and layers; sparsity is one minus it. As in the paper's training-
  dynamics protocol, the CETT value is calibrated once (on the last checkpoints) and then
  applied to every checkpoint.

Searches are bisections on monotone quantities (CETT rises with tau; perplexity with CETT).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn

Loss = Callable[[nn.Module], float]  # a model's mean loss (nats per token) on fixed held-out data
INNER_STEPS = 30  # bisection steps of a layer's threshold: within 1e-9 of the largest contribution
OUTER_STEPS = 20  # bisection steps of the shared CETT value: within 1e-6 (the paper's demo tolerance)


def down_projections(model: nn.Module) -> list[nn.Linear]:
    """The down projection of every feed-forward network in `model`, in order."""
    own = getattr(model, "ffn_downs", None)
    if callable(own):
        return list(own())
    blocks = getattr(model, "blocks", None)
    if blocks is not None and all(isinstance(getattr(getattr(b, "mlp", None), "fc2", None), nn.Linear)
                                  for b in blocks):
        return [b.mlp.fc2 for b in blocks]  # timm's ViT: fc1 -> act -> fc2
    raise ValueError(f"{type(model).__name__} has no feed-forward layers kbench can read (a `ffn_downs()` "
                     "method, or timm-style blocks[i].mlp.fc2)")


def _flat(a: torch.Tensor) -> torch.Tensor:
    return a.reshape(-1, a.shape[-1])


@contextmanager
def captured(layers: Sequence[nn.Linear]) -> Iterator[list[list[torch.Tensor]]]:
    """Record each layer's input (tokens x hidden) on every forward pass inside the block."""
    seen: list[list[torch.Tensor]] = [[] for _ in layers]
    hooks = [layer.register_forward_pre_hook(lambda mod, args, i=i: seen[i].append(_flat(args[0]).detach()))
             for i, layer in enumerate(layers)]
    try:
        yield seen
    finally:
        for h in hooks:
            h.remove()


@torch.no_grad()
def nonzero_fraction(model: nn.Module, run: Callable[[nn.Module], object]) -> float:
    """Share of nonzero entries of the FFN activations while `run(model)` does its forward passes:
    per token, then averaged over tokens and layers."""
    layers = down_projections(model)
    with captured(layers) as seen:
        run(model)
    per_layer = [torch.cat(s).ne(0).double().mean().item() for s in seen if s]
    if not per_layer:
        raise ValueError("the forward pass never reached a feed-forward layer")
    return sum(per_layer) / len(per_layer)


def column_norms(layer: nn.Linear) -> torch.Tensor:
    """||W_down[:, i]|| per neuron i (the length of the vector a neuron adds to the output)."""
    norms: torch.Tensor = layer.weight.detach().double().norm(dim=0)
    return norms


def cett(a: torch.Tensor, weight: torch.Tensor, tau: float) -> float:
    """Mean over tokens of the relative error of dropping contributions c_i <= tau."""
    return _Tail(a, weight)(tau)


class _Tail:
    """CETT of one layer's activations as a function of tau (the products it needs, once)."""

    def __init__(self, a: torch.Tensor, weight: torch.Tensor) -> None:
        # float32 products: the CETT is a mean of ratios compared with a target, not summed further
        self.a, self.w = a.float(), weight.detach().float()
        self.c = self.a.abs() * self.w.norm(dim=0)
        full = (self.a @ self.w.T).norm(dim=1)
        self.ok = full > 0
        self.full = full[self.ok]

    def __call__(self, tau: float) -> float:
        if not bool(self.ok.any()):
            return 0.0
        tail = ((self.a * (self.c <= tau))[self.ok] @ self.w.T).norm(dim=1)
        return float((tail / self.full).mean())


def threshold_for_cett(a: torch.Tensor, weight: torch.Tensor, target: float) -> float:
    """The largest tau whose CETT is at most `target` (bisection; CETT rises with tau)."""
    return _threshold(_Tail(a, weight), target)


def _threshold(tail: _Tail, target: float) -> float:
    c_max = float(tail.c.max()) if tail.c.numel() else 0.0
    if target <= 0 or c_max == 0:
        return 0.0
    if tail(c_max) <= target:
        return c_max
    return largest_within(tail, target, c_max, INNER_STEPS)


def largest_within(f: Callable[[float], float], target: float, high: float, steps: int) -> float:
    """The largest x in [0, high] with f(x) <= target, for f rising in x and f(high) > target
    (bisection: within high / 2^steps of it)."""
    lo, hi = 0.0, high
    for _ in range(steps):
        mid = 0.5 * (lo + hi)
        if f(mid) <= target:
            lo = mid
        else:
            hi = mid
    return lo


@contextmanager
def masked(layers: Sequence[nn.Linear], taus: Sequence[float]) -> Iterator[list[list[float]]]:
    """Inside the block, each layer drops activations whose contribution is at most its tau
    (|a_i| * ||W_down[:, i]|| <= tau_l); yields the kept share per layer per forward pass."""
    kept: list[list[float]] = [[] for _ in layers]

    def hook(i: int) -> Callable[[nn.Module, tuple[torch.Tensor, ...]], tuple[torch.Tensor]]:
        norms = column_norms(layers[i]).to(layers[i].weight.device)

        def apply(mod: nn.Module, args: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor]:
            a = args[0]
            keep = (a.double().abs() * norms) > taus[i]
            kept[i].append(float(keep.double().mean()))
            return (a * keep.to(a.dtype),)
        return apply

    hooks = [layer.register_forward_pre_hook(hook(i)) for i, layer in enumerate(layers)]
    try:
        yield kept
    finally:
        for h in hooks:
            h.remove()


@dataclass
class Calibrated:
    """One model's dense activations and loss on the calibration data."""

    model: nn.Module
    activations: list[torch.Tensor]  # per layer, tokens x hidden
    dense_loss: float
    _tails: list[_Tail] | None = None

    def taus(self, cett_value: float) -> list[float]:
        if self._tails is None:
            self._tails = [_Tail(a, layer.weight)
                           for a, layer in zip(self.activations, down_projections(self.model), strict=True)]
        return [_threshold(tail, cett_value) for tail in self._tails]

    @torch.no_grad()
    def sparse(self, cett_value: float, loss: Loss) -> tuple[float, float]:
        """(perplexity ratio to dense, activation ratio) with every layer cut at this CETT."""
        with masked(down_projections(self.model), self.taus(cett_value)) as kept:
            sparse_loss = loss(self.model)
        ratio = math.exp(sparse_loss - self.dense_loss)
        shares = [x for layer in kept for x in layer]
        return ratio, sum(shares) / len(shares)


@torch.no_grad()
def calibrate(model: nn.Module, loss: Loss) -> Calibrated:
    with captured(down_projections(model)) as seen:
        dense = loss(model)
    return Calibrated(model, [torch.cat(s) for s in seen], dense)


@dataclass(frozen=True)
class PplSearch:
    cett: float  # the shared CETT value found
    ppl_ratio: float  # the mean perplexity ratio it gives on the calibration models
    target: float  # 1 + p/100
    reached: bool = True  # False: even CETT = 1 (every contribution dropped) keeps perplexity below the target


def search_cett(models: Sequence[Calibrated], loss: Loss, p: float) -> PplSearch:
    """The CETT value at which the mean perplexity ratio over `models` reaches 1 + p/100
    (bisection on [0, 1]; the ratio rises with CETT)."""
    target = 1 + p / 100

    def mean_ratio(value: float) -> float:
        return sum(m.sparse(value, loss)[0] for m in models) / len(models)

    if mean_ratio(1.0) <= target:
        return PplSearch(1.0, mean_ratio(1.0), target, reached=False)
    found = largest_within(mean_ratio, target, 1.0, OUTER_STEPS)
    return PplSearch(found, mean_ratio(found), target)
