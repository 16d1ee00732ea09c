"""Training a model on a task from kbench.data, the same way for every side of a comparison.

AdamW with a cosine decay to zero, fixed epochs and batch size, no early stopping (it favours
whichever side converges first); the seed fixes the initial weights and the batch order. A model
with `adapt_to_data(x, step)` (the KAN's grid updates) is shown the training inputs before each
step. Inputs
of 1-D tasks are standardised with the training split's mean and deviation, regression targets
too (the metric is reported in the target's own units). Everything runs on the device given.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from kbench.data import Split, Task


@dataclass(frozen=True)
class TrainConfig:
    epochs: int
    batch: int
    lr: float
    weight_decay: float = 0.01


@dataclass(frozen=True)
class Prepared:
    """A task's splits as tensors on the device, standardised as training sees them."""

    train: tuple[torch.Tensor, torch.Tensor]
    val: tuple[torch.Tensor, torch.Tensor]
    test: tuple[torch.Tensor, torch.Tensor]
    kind: str
    y_scale: float  # regression: the training targets' deviation (metrics are reported unscaled)


def prepare(task: Task, device: torch.device) -> Prepared:
    flat = len(task.input_shape) == 1
    mean = task.train.x.mean(axis=0) if flat else 0.0
    std = np.maximum(task.train.x.std(axis=0), 1e-8) if flat else 1.0
    y_mean = float(task.train.y.mean()) if task.kind == "regression" else 0.0
    y_scale = float(task.train.y.std()) or 1.0 if task.kind == "regression" else 1.0

    def tensors(split: Split) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.as_tensor((split.x - mean) / std, dtype=torch.float32, device=device)
        if task.kind == "regression":
            return x, torch.as_tensor((split.y - y_mean) / y_scale, dtype=torch.float32, device=device)
        return x, torch.as_tensor(split.y, dtype=torch.long, device=device)

    return Prepared(tensors(task.train), tensors(task.val), tensors(task.test), task.kind, y_scale)


def _loss(kind: str, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(out, y) if kind == "classification" else F.mse_loss(out.reshape(-1), y)


def fit(model: nn.Module, data: Prepared, config: TrainConfig, seed: int) -> nn.Module:
    """Train `model` in place on the training split."""
    x, y = data.train
    gen = torch.Generator(device="cpu").manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    steps = config.epochs * math.ceil(len(y) / config.batch)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda i: 0.5 * (1 + math.cos(math.pi * i / steps)))
    adapt = getattr(model, "adapt_to_data", None)  # a KAN moves its grids to the data early on
    model.train()
    step = 0
    for _ in range(config.epochs):
        order = torch.randperm(len(y), generator=gen).to(x.device)
        for start in range(0, len(y), config.batch):
            if adapt is not None:
                adapt(x, step)
            step += 1
            idx = order[start:start + config.batch]
            opt.zero_grad(set_to_none=True)
            _loss(data.kind, model(x[idx]), y[idx]).backward()  # type: ignore[no-untyped-call]
            opt.step()
            sched.step()
    return model


@torch.no_grad()
def per_example(model: nn.Module, data: Prepared, split: str) -> np.ndarray:
    """Each example's outcome: 1.0 if classified right, else 0.0 (classification), or its squared
    error in the target's units (regression)."""
    x, y = getattr(data, split)
    model.eval()
    out = torch.cat([model(x[i:i + 1024]) for i in range(0, len(y), 1024)])
    if data.kind == "classification":
        return np.asarray((out.argmax(dim=1) == y).double().cpu().numpy())
    return np.asarray(((out.reshape(-1).double() - y.double()) * data.y_scale).square().cpu().numpy())


def score(outcomes: np.ndarray, kind: str) -> float:
    """Accuracy (classification) or root mean square error (regression) of `per_example` outcomes."""
    if kind == "classification":
        return float(outcomes.mean())
    mse = float(outcomes.mean())
    return math.sqrt(mse) if math.isfinite(mse) else math.inf


def describe(config: TrainConfig) -> dict[str, Any]:
    return {"epochs": config.epochs, "batch": config.batch, "lr": config.lr, "weight_decay": config.weight_decay,
            "optimizer": "AdamW, cosine decay to 0"}
